#!/bin/sh
# Install pension-bridge from this offline bundle: no network is used.
#
#   ./install.sh [--prefix /opt/pension-bridge] [--python python3.11] [--peer-key FILE] [--systemd]
#
# Checks SHA256SUMS (and SHA256SUMS.sig with --peer-key), creates $PREFIX/.venv with
# `pip install --no-index --find-links wheels/<arch>`, copies the systemd units and example
# settings to $PREFIX/share/; with --systemd (as root) also to /etc/systemd/system and
# /etc/pension-bridge (an existing bridge.env is never overwritten).
# Messages are Chinese for the county's IT staff: this runs before the catalogue is installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/pension-bridge
python=python3.11
peer_key=""
systemd=no

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --peer-key) peer_key=$2; shift 2 ;;
        --systemd) systemd=yes; shift ;;
        *) echo "未知参数：$1（可用：--prefix --python --peer-key --systemd）" >&2; exit 2 ;;
    esac
done

fail() { echo "安装失败：$*" >&2; exit 1; }

cd "$here"
sha256sum --quiet --strict -c SHA256SUMS || fail "安装包文件校验不符（SHA256SUMS），请重新拷贝安装包"
echo "安装包文件校验通过（SHA256SUMS）"

version=$(sed -n 's/^version=//p' VERSION)
case "$(uname -m)" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) fail "不支持的处理器架构 $(uname -m)（支持 x86_64、aarch64）" ;;
esac
[ -d "wheels/$arch" ] || fail "安装包中没有 $arch 架构的软件包"
command -v "$python" >/dev/null 2>&1 || fail "找不到 $python（需要 Python 3.11），可用 --python 指定"
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || fail "$python 不是 Python 3.11"

# The signature is checked with the bridge already installed when there is one (an upgrade):
# that code was verified before. On a first install it can only be checked with the new code,
# so compare the SHA-256 of SHA256SUMS with the sender by telephone as well.
verify_signature() {
    "$1" bundle verify "$here" --peer-key "$peer_key" || fail "SHA256SUMS 的签名不对：安装包不是对方发出的"
}
if [ -n "$peer_key" ]; then
    [ -f SHA256SUMS.sig ] || fail "安装包没有签名（SHA256SUMS.sig）"
    if [ -x "$prefix/.venv/bin/pension-bridge" ]; then
        verify_signature "$prefix/.venv/bin/pension-bridge"
        peer_key=""
    fi
fi

mkdir -p "$prefix"
[ -x "$prefix/.venv/bin/python" ] || "$python" -m venv "$prefix/.venv"
PIP_NO_INPUT=1 "$prefix/.venv/bin/python" -m pip --disable-pip-version-check install --quiet --no-index \
    --find-links "$here/wheels/$arch" --upgrade "pension-bridge==$version" \
    || fail "pip 安装未完成（见上面的信息）"
[ -z "$peer_key" ] || verify_signature "$prefix/.venv/bin/pension-bridge"

mkdir -p "$prefix/share"
cp -R "$here/systemd" "$here/env" "$here/VERSION" "$prefix/share/"
if [ "$systemd" = yes ]; then
    [ "$(id -u)" = 0 ] || fail "--systemd 需要 root 权限"
    install -m 0644 "$here"/systemd/* /etc/systemd/system/
    install -d -m 0750 /etc/pension-bridge
    for example in "$here"/env/*.env.example; do
        name=$(basename "$example" .example)
        [ -e "/etc/pension-bridge/$name" ] || install -m 0600 "$example" "/etc/pension-bridge/$name"
    done
    command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload || true
fi

"$prefix/.venv/bin/pension-bridge" --version
echo "安装完成：$prefix/.venv/bin/pension-bridge。下一步：编辑设置文件，然后运行 pension-bridge doctor"
