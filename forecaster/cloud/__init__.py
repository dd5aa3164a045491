"""Cloud provider edges: the S3 model store (EC2 Auto Scaling groups are the prescaler's: forecaster.prescaler.asg).

Submodules import boto3 inside functions, so importing this package costs nothing and needs no credentials.
"""
