#!/usr/bin/env bash
# Build the habitat-sim 0.3.3 CPU wheel (headless EGL, no Bullet, magnum/corrade Python bindings inside) that the
# Habitat backend is tested with, on a machine that reaches GitHub (it clones habitat-sim), with no conda and no
# GPU (Debian 12/13, x86-64, CPython 3.11; about 35 minutes on 2 cores; the build folder is --workdir):
#   check the system packages -> clone v0.3.3 with its submodules -> compile -> package the wheel with the
#   bindings -> install it into a scratch venv and import it -> print the wheel's path and sha256.
#
# Usage:
#   bash scripts/build_habitat_sim_wheel.sh [--workdir DIR] [--out DIR] [--python PY] [--jobs N]
#   bash scripts/build_habitat_sim_wheel.sh --step check-system
#   bash scripts/build_habitat_sim_wheel.sh --step package --sim-wheel W --bindings-wheel B [--out DIR]
#   bash scripts/build_habitat_sim_wheel.sh --step check --wheel W [--python PY]
# Exit codes: 0 done, 2 bad arguments, 3 missing system packages, 4 a failed build/package/import step.
set -euo pipefail

TAG=v0.3.3
REPO=https://github.com/facebookresearch/habitat-sim
BUILD_PACKAGES=(git cmake ninja-build g++ libeigen3-dev libegl-dev libgl-dev libopengl-dev)
RUNTIME_PACKAGES=(libegl1 libopengl0 libegl-mesa0 libgl1-mesa-dri)
# setup.py flags shared by the compile and the packaging step (BUILD.md, steps 3 and 4)
SETUP_FLAGS=(--headless --no-bullet --build-type Release --no-lto --no-update-submodules --skip-install-magnum)
CMAKE_ARGS="-DUSE_SYSTEM_EIGEN=ON -DUSE_SYSTEM_OPENEXR=ON -DBUILD_DATATOOL=OFF \
-DASSIMP_BUILD_ALL_IMPORTERS_BY_DEFAULT=OFF -DASSIMP_BUILD_OBJ_IMPORTER=ON -DASSIMP_BUILD_PLY_IMPORTER=ON \
-DASSIMP_BUILD_GLTF_IMPORTER=ON -DASSIMP_BUILD_STL_IMPORTER=ON"

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

die() {  # die CODE MESSAGE: one error line, the exit code
    echo "error: $2" >&2
    exit "$1"
}

WORKDIR=habitat-sim-build
OUT=""
PY=python3.11
JOBS=$(nproc 2>/dev/null || echo 2)
STEP=all
SIM_WHEEL=""
BINDINGS_WHEEL=""
WHEEL=""

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -h|--help) usage; exit 0 ;;
            --workdir|--out|--python|--jobs|--step|--sim-wheel|--bindings-wheel|--wheel)
                [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || die 2 "$1: needs a value (see --help)"
                case "$1" in
                    --workdir) WORKDIR=$2 ;;
                    --out) OUT=$2 ;;
                    --python) PY=$2 ;;
                    --jobs) JOBS=$2 ;;
                    --step) STEP=$2 ;;
                    --sim-wheel) SIM_WHEEL=$2 ;;
                    --bindings-wheel) BINDINGS_WHEEL=$2 ;;
                    --wheel) WHEEL=$2 ;;
                esac
                shift 2 ;;
            *) die 2 "$1: unknown argument (see --help)" ;;
        esac
    done
    [[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die 2 "--jobs: '$JOBS' is not a positive integer (e.g. --jobs 2)"
    case "$STEP" in
        all|check-system) ;;
        package)
            [ -f "$SIM_WHEEL" ] || die 2 "--sim-wheel: '$SIM_WHEEL' is not a file (the habitat_sim wheel to complete)"
            [ -f "$BINDINGS_WHEEL" ] \
                || die 2 "--bindings-wheel: '$BINDINGS_WHEEL' is not a file (the magnum bindings wheel)" ;;
        check)
            [ -f "$WHEEL" ] || die 2 "--wheel: '$WHEEL' is not a file (the wheel to install and import)" ;;
        *) die 2 "--step: '$STEP' is unknown (all, check-system, package or check)" ;;
    esac
    command -v "$PY" >/dev/null 2>&1 || die 2 "--python: '$PY' is not on PATH (install CPython 3.11 or pass --python)"
}

check_system() {  # every Debian package of BUILD.md installed, else the apt-get line that installs them
    command -v dpkg-query >/dev/null 2>&1 || die 3 "dpkg-query: not found; this script knows Debian's package names \
only (install the equivalents of: ${BUILD_PACKAGES[*]} ${RUNTIME_PACKAGES[*]})"
    local missing=() pkg
    for pkg in "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        die 3 "system packages missing: ${missing[*]} (apt-get install -y ${missing[*]})"
    fi
    echo "system packages: all ${#BUILD_PACKAGES[@]} build and ${#RUNTIME_PACKAGES[@]} run-time packages installed"
}

clone() {  # the v0.3.3 tag with the submodules at the commits it pins
    local src=$1
    if [ ! -d "$src/.git" ]; then
        git clone --branch "$TAG" "$REPO" "$src" || die 4 "git clone $REPO ($TAG) failed (network?)"
    fi
    git -C "$src" submodule update --init --recursive || die 4 "git submodule update failed in $src"
}

compile() {  # BUILD.md step 3, in a venv with numpy, setuptools and wheel
    local src=$1 venv=$2
    [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
    "$venv/bin/python" -m pip install -q numpy setuptools wheel
    (cd "$src" && CMAKE_BUILD_PARALLEL_LEVEL=$JOBS "$venv/bin/python" setup.py build_ext --parallel "$JOBS" \
        "${SETUP_FLAGS[@]}" --cmake-args="$CMAKE_ARGS") || die 4 "compiling habitat-sim failed (see the output above)"
}

build_parts() {  # BUILD.md step 4: the habitat_sim wheel without a second build, and the bindings' wheel
    local src=$1 venv=$2 parts=$3
    mkdir -p "$parts"
    (cd "$src" && "$venv/bin/python" setup.py bdist_wheel --skip-build -d "$parts" "${SETUP_FLAGS[@]}") \
        || die 4 "packaging habitat_sim (bdist_wheel --skip-build) failed"
    "$venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
        "$src/build/deps/magnum-bindings/src/python" -w "$parts" || die 4 "building the magnum bindings wheel failed"
}

merge_bindings() {  # merge_bindings SIM_WHEEL BINDINGS_WHEEL OUT_DIR: the sim wheel with magnum/, corrade/ and
    # the _magnum*/_corrade* extensions of the bindings wheel inside (import habitat_sim needs them); prints its path
    local sim=$1 bindings=$2 out=$3 tmp
    tmp=$(mktemp -d)
    "$PY" -m wheel unpack -d "$tmp/sim" "$sim" >/dev/null || die 4 "wheel unpack $sim failed (pip install wheel)"
    "$PY" -m wheel unpack -d "$tmp/bindings" "$bindings" >/dev/null || die 4 "wheel unpack $bindings failed"
    local sim_root bindings_root copied=0 item
    sim_root=$(find "$tmp/sim" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    bindings_root=$(find "$tmp/bindings" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    for item in "$bindings_root"/magnum "$bindings_root"/corrade \
            "$bindings_root"/_magnum*.so "$bindings_root"/_corrade*.so; do
        [ -e "$item" ] || continue
        cp -r "$item" "$sim_root/"
        copied=$((copied + 1))
    done
    [ -d "$sim_root/magnum" ] && [ -d "$sim_root/corrade" ] || die 4 "$bindings holds no magnum/ and corrade/ packages"
    mkdir -p "$out"
    local packed
    packed=$("$PY" -m wheel pack -d "$out" "$sim_root" | sed -n 's/.*Repacking wheel as \(.*\)\.\.\.[Oo][Kk].*/\1/p')
    rm -rf "$tmp"
    [ -f "$packed" ] || die 4 "wheel pack did not produce a wheel in $out"
    echo "$packed"
}

import_check() {  # import_check WHEEL: install it with its dependencies into a scratch venv and import
    # habitat_sim and magnum there (the wheel's own pins, numpy 1.26, are fine in a venv of its own)
    local wheel=$1 venv
    venv=$(mktemp -d)/venv
    "$PY" -m venv --without-pip "$venv"  # filled by $PY's pip (pip >= 22.3: --python), no ensurepip round
    "$PY" -m pip --python "$venv/bin/python" install -q "$wheel" || die 4 "pip install $wheel failed"
    HABITAT_SIM_LOG=quiet MAGNUM_LOG=quiet "$venv/bin/python" -c \
        "import habitat_sim, magnum; print('import check: habitat_sim', habitat_sim.__version__, 'with magnum')" \
        || die 4 "import habitat_sim failed with $wheel installed (are the magnum bindings inside?)"
    rm -rf "$(dirname "$venv")"
}

report() {  # the wheel's path and sha256
    echo "wheel: $(realpath "$1")"
    echo "sha256: $(sha256sum "$1" | cut -d' ' -f1)"
}

main() {
    parse_args "$@"
    case "$STEP" in
        check-system) check_system; return ;;
        package)
            local wheel
            wheel=$(merge_bindings "$SIM_WHEEL" "$BINDINGS_WHEEL" "${OUT:-.}")
            report "$wheel"; return ;;
        check) import_check "$WHEEL"; return ;;
    esac
    check_system
    mkdir -p "$WORKDIR"
    WORKDIR=$(realpath "$WORKDIR")
    OUT=$(realpath -m "${OUT:-$WORKDIR/dist}")
    clone "$WORKDIR/habitat-sim"
    compile "$WORKDIR/habitat-sim" "$WORKDIR/venv"
    build_parts "$WORKDIR/habitat-sim" "$WORKDIR/venv" "$WORKDIR/parts"
    local sim bindings wheel
    sim=$(ls "$WORKDIR"/parts/habitat_sim-*.whl | head -n 1)
    bindings=$(ls "$WORKDIR"/parts/magnum*.whl | head -n 1)
    PY="$WORKDIR/venv/bin/python"
    "$PY" -m pip install -q wheel
    wheel=$(merge_bindings "$sim" "$bindings" "$OUT")
    import_check "$wheel"
    report "$wheel"
}

main "$@"
