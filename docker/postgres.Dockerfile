# PostgreSQL from Debian's package, for machines that cannot pull the official image (the
# compose file uses postgres:16 unless SETHUB_POSTGRES_IMAGE names another). It takes the
# official image's settings that compose.yaml uses: POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, data in /var/lib/postgresql/data, port 5432, and pg_isready for health.
#     docker build -f docker/postgres.Dockerfile --build-arg BASE=debian:bookworm-slim \
#         -t sethub-postgres docker
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
    && apt-get install --yes --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/ \
    && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
    && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["sh", "/usr/local/bin/postgres-entrypoint.sh"]
