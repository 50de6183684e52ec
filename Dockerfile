# Vitrine: the app and the API, two commands of one image.
#   docker build -t vitrine .
#   docker run -p 8501:8501 -v vitrine-data:/data -v vitrine-cache:/cache vitrine                # the app
#   docker run -p 127.0.0.1:8000:8000 -v vitrine-data:/data vitrine python -m api --host 0.0.0.0 --port 8000  # the API
# (the API refuses to start without a key: see compose.yaml, and docs/deploying.md for TLS in front)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_HOME=/cache/keras \
    NUMBA_CACHE_DIR=/cache/numba \
    VITRINE_ARTIFACTS=/data/artifacts \
    VITRINE_API_KEYS=/data/api_keys.toml

# /run/vitrine-secrets: the API's keys and the first key's token file (compose.yaml's api-secrets
# volume takes this folder's owner and mode 0700 when it is first made).
RUN useradd --create-home --uid 10001 vitrine \
    && mkdir -p /data/artifacts /cache/keras /cache/numba /run/vitrine-secrets \
    && chown -R vitrine:vitrine /data /cache /run/vitrine-secrets \
    && chmod 0700 /run/vitrine-secrets

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=vitrine:vitrine . .

USER vitrine
# /data: artifacts and workspaces (share it between the app, the API and their replicas);
# /cache: the ImageNet weights Keras downloads once (or put a local .h5 there: VITRINE_WEIGHTS).
VOLUME ["/data", "/cache"]
EXPOSE 8501 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD python -c "import sys, urllib.request; \
    sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"
CMD ["streamlit", "run", "streamlit_app.py", "--server.address", "0.0.0.0", "--server.port", "8501", \
     "--server.fileWatcherType", "none"]
