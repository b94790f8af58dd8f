# syntax=docker/dockerfile:1
#
# billingd's container image: a static, stripped binary on distroless, run as
# the unprivileged user 65532 (nonroot). Build it from the repository root:
#
#	docker build -t billingd .
#
# cmd/billingd/deployments_test.go checks the properties this file promises.

# ---- build ----------------------------------------------------------------
# The Go version matches go.mod's go line (1.26.x); a newer patch is fine.
# The builder runs on the build machine's platform and cross-compiles (cheap
# without cgo), so `docker buildx build --platform linux/amd64,linux/arm64 .` works.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src

# Modules first, in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# CGO_ENABLED=0: a static binary (SQLite is the pure-Go driver), so the final
# image needs no libc. -trimpath and -s -w: reproducible paths, no symbol tables.
RUN --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/billingd ./cmd/billingd

# ---- run ------------------------------------------------------------------
# static-debian12 carries CA certificates (for api.stripe.com) and tzdata, and
# nothing else: no shell, no curl, hence `billingd healthcheck` below.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/billingd /billingd
# Numeric, so Kubernetes can verify runAsNonRoot without resolving a name.
USER 65532:65532
# Writable by 65532: the default DATABASE_URL (sqlite:billing.db) lands here when
# the image is tried on its own. Production sets DATABASE_URL to PostgreSQL.
WORKDIR /home/nonroot
# PORT's default.
EXPOSE 8080
# GET http://127.0.0.1:$PORT/healthz must answer 200.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
	CMD ["/billingd", "healthcheck"]
ENTRYPOINT ["/billingd"]
