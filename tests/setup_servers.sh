#!/usr/bin/env bash
# Prepare a Debian machine for the integration tests; safe to run again and again.
#
# Installs the dovecot and redis-server binaries (the tests start private instances on loopback
# ports, so no system-wide service is started or needed here) and makes sure PostgreSQL answers
# on 127.0.0.1:5432 for user postgres without a password (the tests create and drop their own
# databases). Installing needs root; without it the script only reports what is missing.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432

say() { echo "setup_servers: $*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }
# Daemons live in sbin, which a non-root PATH often lacks.
have() { PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }

apt_updated=no
apt_install() {
    if ! is_root; then
        say "not root: cannot install $*; integration tests will skip (or fail under CI=true)"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Another apt may be running (an image build, a colleague): wait for its lock, not fail.
    local wait=(-o DPkg::Lock::Timeout=600)
    if [ "$apt_updated" = no ]; then
        say "apt-get update"
        apt-get "${wait[@]}" update -qq
        apt_updated=yes
    fi
    say "apt-get install $*"
    apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_binary() {  # binary package
    if have "$1"; then
        say "$1 present ($(PATH="$PATH:/usr/sbin" command -v "$1"))"
    else
        apt_install "$2" && say "$1 installed from $2"
    fi
}

pg_answers() {
    if have pg_isready; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
    else
        (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
    fi
}

pg_start_clusters() {
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        say "starting PostgreSQL $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
}

pg_wait() {
    local i
    for i in $(seq 1 30); do
        pg_answers && return 0
        sleep 1
    done
    return 1
}

# The tests connect as postgres over TCP without a password; Debian's default is scram.
pg_allow_trust() {
    if PGCONNECT_TIMEOUT=3 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -w \
        -Atqc 'SELECT 1' >/dev/null 2>&1; then
        say "PostgreSQL accepts postgres@$PG_HOST without a password"
        return 0
    fi
    if ! is_root; then
        say "PostgreSQL refuses postgres@$PG_HOST without a password and we are not root"
        return 1
    fi
    local hba version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        hba=/etc/postgresql/$version/main/pg_hba.conf
        [ -f "$hba" ] || continue
        if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
            say "test machine: trusting postgres@$PG_HOST in $hba"
            sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
        fi
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
    done
}

ensure_postgres() {
    if pg_answers; then
        say "PostgreSQL answers on $PG_HOST:$PG_PORT"
    else
        if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
            apt_install postgresql || return 0
        fi
        pg_start_clusters
        if pg_wait; then
            say "PostgreSQL answers on $PG_HOST:$PG_PORT"
        else
            say "PostgreSQL still does not answer on $PG_HOST:$PG_PORT"
            return 0
        fi
    fi
    have psql && pg_allow_trust || true
}

ensure_binary dovecot dovecot-imapd || true
ensure_binary redis-server redis-server || true
ensure_postgres
say "done"
