# gisttrack: build with the Rust toolchain, run on a slim Debian with the MySQL client library.
# Nothing here can be built in this project's CI (no registry for base images); the file is
# kept simple enough to read as correct.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends default-libmysqlclient-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gisttrack

FROM debian:bookworm-slim
# libmariadb3: the MySQL/MariaDB client library the binary links; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/gisttrack --create-home gisttrack
COPY --from=build /src/target/release/gisttrack /usr/local/bin/gisttrack
USER gisttrack
WORKDIR /var/lib/gisttrack
# Listen on every interface inside the container. The default database is SQLite in the
# volume ($XDG_DATA_HOME/gisttrack/gisttrack.db) without setting DATABASE_URL, so either
# DATABASE_URL or the DATABASE_HOST family of variables can name a MySQL/MariaDB server
# (both at once is refused as ambiguous).
ENV GISTTRACK_LISTEN=0.0.0.0:3000 \
    XDG_DATA_HOME=/var/lib
VOLUME /var/lib/gisttrack
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["gisttrack"]
CMD ["serve"]
