# The hand-made container (docs/USER-GUIDE.md: unshare + pivot_root),
# as one script for `make bench`. Run it inside the namespaces:
#
#   unshare --user --map-root-user --mount --pid --fork sh recipe.sh ROOTFS CMD [ARGS...]
#
# ROOTFS must be an absolute path and contain an old_root directory.
set -e
PATH=/usr/sbin:/sbin:/usr/bin:/bin
R=$1
shift
mount --bind "$R" "$R"
mkdir -p "$R/old_root"
pivot_root "$R" "$R/old_root"
cd /
PATH=/bin:/sbin:$PATH
mount -t proc proc /proc
umount -l /old_root
exec "$@"
