"""Cloud provider edges: the only package that imports boto3 (S3 model store, EC2 Auto Scaling groups).

Submodules import boto3 inside functions, so importing this package costs nothing and needs no credentials.
"""
