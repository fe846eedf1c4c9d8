# Sourced by the image scripts: where the image lives and how buildah reaches it. The tests
# (tests/image/) read the same variables with the same defaults.
# vfs and chroot isolation: they need no overlay mounts and no user namespaces, which the sandboxes
# these machines run in refuse.
IMAGE=${MAILFERRY_IMAGE:-localhost/mailferry:local}
STORE=${MAILFERRY_IMAGE_STORE:-$PWD/.image}
mkdir -p "$STORE"
BUILDAH=(buildah --storage-driver vfs --root "$STORE/storage" --runroot "$STORE/run")
export BUILDAH_ISOLATION=chroot
