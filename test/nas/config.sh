# Shared names of the stand-in NAS; sourced by up.sh, down.sh and reset.sh.
NAS_STATE=${NAS_STATE:-/var/lib/nas-standin}
NAS_USER=${NAS_USER:-nas}
NAS_SSH_PORT=${NAS_SSH_PORT:-2222}
NAS_SSH_PORT_SYNOLOGY=${NAS_SSH_PORT_SYNOLOGY:-2223}
NAS_SSH_PORT_NOGIT=${NAS_SSH_PORT_NOGIT:-2225}
NAS_VOLUME=${NAS_VOLUME:-/volume1}
NAS_APP_DIR=$NAS_VOLUME/docker/scanium
NAS_REPO=$NAS_APP_DIR/repo
NAS_ORIGIN=$NAS_VOLUME/git/scanium.git
NAS_ANSWERS=$NAS_APP_DIR/standin/answers
NAS_BASE_IMAGE=nas-base:latest
NAS_DOCKERD_LOG=$NAS_STATE/dockerd.log
