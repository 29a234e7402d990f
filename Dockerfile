# Braid in a container: a release build, then a slim runtime with only libpq.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libssl-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin braid

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/braid --create-home braid
COPY --from=build /src/target/release/braid /usr/local/bin/braid
USER braid
WORKDIR /var/lib/braid
ENV BRAID_LISTEN=0.0.0.0:8080 \
    BRAID_DATA_DIR=/var/lib/braid/data \
    BRAID_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["braid"]
CMD ["serve"]
