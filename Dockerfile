# One image for every role: `forecaster train | serve | prescale` (the Kubernetes manifests pick the command).
#
#   docker build -t forecaster:0.1.0 .
#   docker run --rm -p 8080:8080 forecaster:0.1.0          # the forecast service on the built-in demo
#
# Two stages: the build stage installs the package and its dependencies into a virtual environment; the
# runtime stage copies only that venv onto a slim Python, runs as a fixed non-root UID (10001, which the
# manifests' securityContext names too) and needs nothing writable but /tmp and the model store.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU build of torch first, from PyTorch's own index: installing the package below would otherwise pull
# the default (CUDA) wheels, gigabytes this image never uses. Same range as pyproject.toml.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.3,<2.14"
WORKDIR /src
# Dependencies change less often than the code: a layer for them keeps rebuilds after code edits fast.
COPY pyproject.toml README.md ./
RUN mkdir forecaster && touch forecaster/__init__.py \
    && pip install . \
    && pip uninstall -y forecaster
COPY forecaster ./forecaster
# Not editable: the package lands inside the venv, so the runtime stage needs nothing from /src.
RUN pip install --no-deps . \
    && python -c "import torch; assert torch.version.cuda is None, 'expected the CPU build of torch'" \
    && forecaster --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM to forecaster (a bare Python PID 1 would ignore it until SIGKILL), so the
# prescaler releases its leader lease and the service drains on a rolling update.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 forecaster \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin forecaster \
    && mkdir -p /var/lib/forecaster/models /etc/forecaster \
    && chown 10001:10001 /var/lib/forecaster/models
COPY --from=build /opt/venv /opt/venv
# The pretrained cold-start networks (a few hundred KB; `forecaster train` fine-tunes them for short histories).
COPY models/_pretrained /opt/forecaster/pretrained
ENV FORECASTER_PRETRAINED=/opt/forecaster/pretrained \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    MPLBACKEND=Agg
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/forecaster
EXPOSE 8080 9102
ENTRYPOINT ["/usr/bin/tini", "--", "forecaster"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
