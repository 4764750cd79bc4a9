# Warmline — one instance. Build: docker build -t warmline .
# The Vosk model is not in the image: mount it (read-only) and point IVR_VOSK_MODEL at it, e.g.
#   docker run -v /srv/models/vosk-model-small-nl-0.22:/models/nl:ro -e IVR_VOSK_MODEL=/models/nl ... warmline
# (`ivr models download nl` fetches and verifies it on any machine with Python.) See deploy/README.md.
FROM python:3.11-slim-bookworm

# espeak-ng speaks the prompts (pyttsx3 drives libespeak-ng); nothing else from the OS is needed to serve calls.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng libespeak-ng1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first (pinned by requirements.lock), so a code change does not reinstall them. The code itself runs
# from /app (uvicorn imports app.py and ivr/ from its working directory; grammars/ sits next to them).
COPY pyproject.toml requirements.lock README.md ./
COPY ivr/__init__.py ivr/__init__.py
RUN pip install --no-cache-dir --constraint requirements.lock . \
    && pip uninstall -y warmline \
    && useradd --system --uid 10001 --home-dir /var/lib/warmline --create-home warmline

COPY ivr ivr
COPY grammars grammars
COPY audio audio
COPY app.py ./
# The rules file is the supervisors' to publish (console): writable by the server, in a directory of its own so it
# can be replaced atomically. With several instances, a rule set published on one reaches the others (Redis) and an
# instance started later takes the latest one.
RUN install -d -o warmline -g warmline /etc/warmline
COPY --chown=warmline:warmline rules.yaml /etc/warmline/rules.yaml

USER warmline
ENV IVR_DATA_DIR=/var/lib/warmline \
    IVR_AUDIO_CACHE_DIR=/var/lib/warmline/cache \
    IVR_UNDERSTANDING_CACHE_DIR=/var/lib/warmline/understanding \
    IVR_RULES_FILE=/etc/warmline/rules.yaml \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/warmline"]
EXPOSE 8000

# Ready = prompts rendered, recognisers warm, store writing, not draining: what a load balancer should ask.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]

# SIGTERM drains (live calls finish or are handed over, then exit 0): give it IVR_DRAIN_TIMEOUT_S before a kill,
# e.g. `docker stop -t 150`, or stop_grace_period in compose.
STOPSIGNAL SIGTERM
# Behind a load balancer, name it in IVR_TRUSTED_PROXIES: only then are its X-Forwarded-* headers believed.
CMD ["python", "-m", "uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]
