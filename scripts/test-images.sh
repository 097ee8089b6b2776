#!/usr/bin/env bash
# scripts/test-images.sh — checks, against the local engine, that the images
# scripts/setup.sh built really work: each service starts with the usual
# environment and answers a real client over the network, and each engine
# image runs as a dind engine with each storage driver and runs a container.
#
#   scripts/test-images.sh [--drivers overlay2,vfs,fuse-overlayfs] [TARGET...]
#
# TARGET as for setup.sh (postgres:17, engine:28.5.2, a set such as demo); by
# default every dockmatrix/ image that exists. Every container, volume and
# network made here carries io.dockmatrix.run=setup-test and this process's
# io.dockmatrix.owner, and is removed at the end. Ends with "N passed, N failed".
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_LABEL=io.dockmatrix.run=setup-test
OWNER_LABEL=io.dockmatrix.owner=$(hostname):$$
LABELS=(--label "$RUN_LABEL" --label "$OWNER_LABEL")
NET=dockmatrix-setup-test-$$
DRIVERS=overlay2,vfs,fuse-overlayfs
# What a dind engine needs where --privileged is refused (see DESIGN.md).
DIND_OPTS=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
    --security-opt apparmor=unconfined --security-opt systempaths=unconfined --device /dev/fuse)
PASSED=0 FAILED=0
FAILURES=()
OUT=$(mktemp)

cleanup() {
    local f=(--filter "label=$RUN_LABEL" --filter "label=$OWNER_LABEL")
    docker ps -aq "${f[@]}" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
    docker volume ls -q "${f[@]}" | xargs -r docker volume rm >/dev/null 2>&1 || true
    docker network ls -q "${f[@]}" | xargs -r docker network rm >/dev/null 2>&1 || true
    rm -f "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
    printf '  FAIL  %s\n' "$1"
    [[ -s $OUT ]] && sed 's/^/        | /' "$OUT" | tail -n 15
    return 0
}
# check NAME COMMAND...: runs COMMAND, passes when it exits 0.
check() {
    local name=$1
    shift
    if "$@" >"$OUT" 2>&1; then pass "$name"; else fail "$name"; fi
}
# expect NAME WANT COMMAND...: passes when COMMAND's output (trimmed) is WANT.
expect() {
    local name=$1 want=$2 got
    shift 2
    got=$("$@" 2>"$OUT" | tr -d '\r' | sed -e 's/[[:space:]]*$//' || true)
    if [[ $got == "$want" ]]; then
        pass "$name"
    else
        echo "wanted: $want" >>"$OUT"
        echo "got:    $got" >>"$OUT"
        fail "$name"
    fi
}
# expect_f NAME WANT FILTER COMMAND...: as expect, COMMAND's output piped
# through the shell snippet FILTER first.
expect_f() {
    local name=$1 want=$2 filter=$3 got
    shift 3
    got=$("$@" 2>"$OUT" | bash -c "$filter" | tr -d '\r' | sed -e 's/[[:space:]]*$//' || true)
    if [[ $got == "$want" ]]; then
        pass "$name"
    else
        echo "wanted: $want" >>"$OUT"
        echo "got:    $got" >>"$OUT"
        fail "$name"
    fi
}
not() { ! "$@"; }
both() { "$@" 2>&1; }
# retry SECONDS COMMAND...: COMMAND until it succeeds, at most SECONDS.
retry() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@" >"$OUT" 2>&1; do
        (($(date +%s) < deadline)) || return 1
        sleep 0.5
    done
}
elapsed_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" | awk '{print $1}'; }
pid1_comm() { docker exec "$1" cat /proc/1/comm; }
pid1_user() { docker exec "$1" sh -c 'getent passwd "$(awk "/^Uid:/ { print \$2 }" /proc/1/status)" | cut -d: -f1'; }
# Runs a client from IMAGE on the test network.
client() {
    local image=$1
    shift
    docker run --rm "${LABELS[@]}" --network "$NET" --entrypoint "$1" "$image" "${@:2}"
}
load_into() { docker save "$2" | docker -H "tcp://$1:2375" load; }
exited_with() { [[ $(docker wait "$1") == "$2" ]]; }

test_postgres() {
    local tag=$1 major=${1##*:} c=pg-$$-${1##*:} t method
    method=scram-sha-256
    ((major < 14)) && method=md5
    t=$(date +%s%N)
    docker run -d "${LABELS[@]}" --network "$NET" --name "$c" \
        -e POSTGRES_PASSWORD=s3cret -e POSTGRES_USER=dm -e POSTGRES_DB=shop "$tag" >/dev/null
    local psql=(client "$tag" psql "postgresql://dm:s3cret@$c:5432/shop" -tAX)
    if retry 60 "${psql[@]}" -c 'SELECT 1'; then
        pass "$tag: ready for a remote client in $(elapsed_ms "$t") ms"
    else
        docker logs "$c" >>"$OUT" 2>&1
        fail "$tag: ready for a remote client"
        return
    fi
    expect "$tag: server is PostgreSQL $major" "$major" "${psql[@]}" -c "SELECT current_setting('server_version_num')::int / 10000"
    expect "$tag: remote auth is $method" "$method" "${psql[@]}" -c "SELECT auth_method FROM pg_hba_file_rules WHERE address = '0.0.0.0'"
    expect "$tag: listens on *" "*" "${psql[@]}" -c 'SHOW listen_addresses'
    expect "$tag: POSTGRES_USER is superuser" "t" "${psql[@]}" -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'dm'"
    check "$tag: wrong password is refused" not client "$tag" psql "postgresql://dm:wrong@$c:5432/shop" -c 'SELECT 1'
    check "$tag: create and fill a table" "${psql[@]}" -c 'CREATE TABLE t (v text); INSERT INTO t VALUES ($$kept$$)'
    expect "$tag: PID 1 is postgres" postgres pid1_comm "$c"
    expect "$tag: runs as user postgres" postgres pid1_user "$c"
    t=$(date +%s%N)
    docker stop "$c" >/dev/null
    expect "$tag: stops cleanly on docker stop" 0 docker inspect -f '{{.State.ExitCode}}' "$c"
    echo "        (stopped in $(elapsed_ms "$t") ms)"
    docker start "$c" >/dev/null
    if retry 60 "${psql[@]}" -c 'SELECT 1'; then :; fi
    expect "$tag: data kept across a restart" kept "${psql[@]}" -c 'SELECT v FROM t'
    docker rm -f -v "$c" >/dev/null
    # No password: refused like the official image.
    c=$(docker run -d "${LABELS[@]}" "$tag")
    check "$tag: no POSTGRES_PASSWORD exits 1" exited_with "$c" 1
    docker rm -f -v "$c" >/dev/null
    c=pg-trust-$$-$major
    docker run -d "${LABELS[@]}" --network "$NET" --name "$c" -e POSTGRES_HOST_AUTH_METHOD=trust "$tag" >/dev/null
    check "$tag: POSTGRES_HOST_AUTH_METHOD=trust needs no password" \
        retry 60 client "$tag" psql -h "$c" -U postgres -tAX -c 'SELECT 1'
    docker rm -f -v "$c" >/dev/null
}

test_mariadb() {
    local tag=$1 version=${1##*:} c=maria-$$-${1##*:} t cli
    cli=$(docker run --rm --entrypoint sh "$tag" -c 'command -v mariadb || command -v mysql')
    t=$(date +%s%N)
    docker run -d "${LABELS[@]}" --network "$NET" --name "$c" -e MARIADB_ROOT_PASSWORD=r00t \
        -e MYSQL_DATABASE=shop -e MYSQL_USER=dm -e MYSQL_PASSWORD=s3cret "$tag" >/dev/null
    local sql=(client "$tag" "$cli" -h "$c" -udm -ps3cret shop -N -B)
    if retry 90 "${sql[@]}" -e 'SELECT 1'; then
        pass "$tag: ready for a remote client in $(elapsed_ms "$t") ms"
    else
        docker logs "$c" >>"$OUT" 2>&1
        fail "$tag: ready for a remote client"
        return
    fi
    expect "$tag: server is MariaDB $version" "$version" "${sql[@]}" -e "SELECT SUBSTRING_INDEX(VERSION(), '.', 2)"
    expect "$tag: root@'%' with MARIADB_ROOT_PASSWORD" 1 client "$tag" "$cli" -h "$c" -uroot -pr00t -N -B -e 'SELECT 1'
    check "$tag: wrong password is refused" not client "$tag" "$cli" -h "$c" -uroot -pwrong -e 'SELECT 1'
    check "$tag: MYSQL_USER owns MYSQL_DATABASE" "${sql[@]}" -e "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')"
    expect "$tag: no anonymous users" 0 client "$tag" "$cli" -h "$c" -uroot -pr00t -N -B -e "SELECT COUNT(*) FROM mysql.user WHERE user = ''"
    expect "$tag: PID 1 is mariadbd" mariadbd pid1_comm "$c"
    expect "$tag: runs as user mysql" mysql pid1_user "$c"
    t=$(date +%s%N)
    docker stop "$c" >/dev/null
    expect "$tag: stops cleanly on docker stop" 0 docker inspect -f '{{.State.ExitCode}}' "$c"
    echo "        (stopped in $(elapsed_ms "$t") ms)"
    docker start "$c" >/dev/null
    retry 60 "${sql[@]}" -e 'SELECT 1' || true
    expect "$tag: data kept across a restart" kept "${sql[@]}" -e 'SELECT v FROM t'
    docker rm -f -v "$c" >/dev/null
    c=$(docker run -d "${LABELS[@]}" "$tag")
    check "$tag: no root password option exits 1" exited_with "$c" 1
    docker rm -f -v "$c" >/dev/null
    c=maria-empty-$$-$version
    docker run -d "${LABELS[@]}" --network "$NET" --name "$c" -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 "$tag" >/dev/null
    check "$tag: MARIADB_ALLOW_EMPTY_ROOT_PASSWORD lets root in without one" \
        retry 90 client "$tag" "$cli" -h "$c" -uroot --skip-ssl-verify-server-cert -e 'SELECT 1'
    docker rm -f -v "$c" >/dev/null
}

test_redis() {
    local tag=$1 version=${1##*:} c=redis-$$-${1##*:} t cli server
    case $tag in
    */valkey:*) cli=valkey-cli server=valkey-server ;;
    *) cli=redis-cli server=redis-server ;;
    esac
    t=$(date +%s%N)
    docker run -d "${LABELS[@]}" --network "$NET" --name "$c" -e REDIS_PASSWORD=s3cret "$tag" --appendonly yes >/dev/null
    local rc=(client "$tag" "$cli" -h "$c" -a s3cret --no-auth-warning)
    if retry 30 "${rc[@]}" ping; then
        pass "$tag: ready for a remote client in $(elapsed_ms "$t") ms"
    else
        docker logs "$c" >>"$OUT" 2>&1
        fail "$tag: ready for a remote client"
        return
    fi
    local key=redis_version
    [[ $server == valkey-server ]] && key=valkey_version
    expect_f "$tag: server is $version" "$version" "tr -d '\\r' | sed -n 's/^$key:\\([0-9]*\\.[0-9]*\\).*/\\1/p'" \
        "${rc[@]}" info server
    expect_f "$tag: REDIS_PASSWORD is required" NOAUTH 'grep -o NOAUTH | head -n1' \
        both client "$tag" "$cli" -h "$c" ping
    expect_f "$tag: extra arguments reach the server" yes 'tail -n1' "${rc[@]}" config get appendonly
    expect_f "$tag: data in /data" /data 'tail -n1' "${rc[@]}" config get dir
    expect "$tag: PID 1 is $server" "$server" pid1_comm "$c"
    expect "$tag: runs as user ${server%-server}" "${server%-server}" pid1_user "$c"
    docker stop "$c" >/dev/null
    expect "$tag: stops cleanly on docker stop" 0 docker inspect -f '{{.State.ExitCode}}' "$c"
    docker rm -f -v "$c" >/dev/null
}

test_engine() {
    local tag=$1 version=${1##*:} driver c vol ip t dh daemon_json
    daemon_json=$(mktemp)
    # A mounted daemon.json is read (and must not clash with the flags).
    echo '{ "log-driver": "local" }' >"$daemon_json"
    chmod 644 "$daemon_json"
    for driver in ${DRIVERS//,/ }; do
        c=engine-$$-$version-$driver
        vol=$(docker volume create "${LABELS[@]}" "$c")
        t=$(date +%s%N)
        docker run -d "${LABELS[@]}" --name "$c" "${DIND_OPTS[@]}" -v "$vol:/var/lib/docker" \
            -v "$daemon_json:/etc/docker/daemon.json:ro" "$tag" --storage-driver="$driver" >/dev/null
        ip=$(ip_of "$c")
        dh=(docker -H "tcp://$ip:2375")
        if retry 60 "${dh[@]}" version; then
            pass "$tag/$driver: engine answers at tcp://$ip:2375 after $(elapsed_ms "$t") ms"
        else
            docker logs "$c" 2>&1 | tail -n 20 >>"$OUT"
            fail "$tag/$driver: engine answers"
            docker rm -f -v "$c" >/dev/null
            docker volume rm "$vol" >/dev/null
            continue
        fi
        expect_f "$tag/$driver: server version $version" "$version" "sed 's/[+~-].*//'" \
            "${dh[@]}" version -f '{{.Server.Version}}'
        expect "$tag/$driver: storage driver $driver" "$driver" "${dh[@]}" info -f '{{.Driver}}'
        expect "$tag/$driver: daemon.json read" local "${dh[@]}" info -f '{{.LoggingDriver}}'
        t=$(date +%s%N)
        check "$tag/$driver: load dockmatrix/base:bookworm" load_into "$ip" dockmatrix/base:bookworm
        echo "        (loaded in $(elapsed_ms "$t") ms)"
        expect "$tag/$driver: run a container inside" hello \
            "${dh[@]}" run --rm dockmatrix/base:bookworm echo hello
        if docker image inspect dockmatrix/redis:7.0 >/dev/null 2>&1; then
            load_into "$ip" dockmatrix/redis:7.0 >/dev/null
            "${dh[@]}" run -d --name inner-redis -p 6379:6379 dockmatrix/redis:7.0 >/dev/null
            check "$tag/$driver: inner Redis answers on a published port at the dind IP" \
                retry 30 docker run --rm "${LABELS[@]}" --entrypoint redis-cli dockmatrix/redis:7.0 -h "$ip" ping
        fi
        expect "$tag/$driver: memory limit on an inner container" 67108864 \
            "${dh[@]}" run --rm -m 64m dockmatrix/base:bookworm \
            sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'
        docker rm -f -v "$c" >/dev/null
        docker volume rm "$vol" >/dev/null
    done
    rm -f "$daemon_json"
}

main() {
    local -a args=() tags=() resolved
    while (($#)); do
        case $1 in
        --drivers) DRIVERS=$2; shift ;;
        -h | --help) sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) args+=("$1") ;;
        esac
        shift
    done
    if ((${#args[@]})); then
        # setup.sh --list knows the sets; reuse its table instead of a copy.
        local a
        for a in "${args[@]}"; do
            mapfile -t resolved < <("$REPO/scripts/setup.sh" --resolve "$a")
            ((${#resolved[@]})) || exit 2
            tags+=("${resolved[@]}")
        done
    else
        mapfile -t tags < <(docker images --format '{{.Repository}}:{{.Tag}}' 'dockmatrix/*' | sort)
    fi
    docker network create "${LABELS[@]}" "$NET" >/dev/null
    local tag
    for tag in "${tags[@]}"; do
        if ! docker image inspect "$tag" >/dev/null 2>&1; then
            echo "== $tag: not built, skipped"
            continue
        fi
        echo "== $tag"
        case $tag in
        dockmatrix/postgres:*) test_postgres "$tag" ;;
        dockmatrix/mariadb:*) test_mariadb "$tag" ;;
        dockmatrix/redis:* | dockmatrix/valkey:*) test_redis "$tag" ;;
        dockmatrix/engine:*) test_engine "$tag" ;;
        *)
            expect "$tag: labelled with its own tag" "$tag" docker image inspect -f '{{index .Config.Labels "io.dockmatrix.image"}}' "$tag"
            ;;
        esac
    done
    echo
    if ((FAILED)); then
        printf 'failed: %s\n' "${FAILURES[@]}"
    fi
    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main "$@"
