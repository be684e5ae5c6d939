#!/usr/bin/env bash
# hardware.sh - the hardware routes of a running server (GET /v1/hardware/info,
# POST /v1/hardware/feasibility, GET /v1/hardware/recommendations, and the same actions
# through /v1/actions), their 400/404 answers, and `tabagent hardware` against the
# fixture machines in tests/fixtures/hardware.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLI=${TABAGENT_BIN:-$(dirname "$TABAGENT_SERVER_BIN")/tabagent}
[[ -x $CLI ]] || die "the tabagent CLI is not at $CLI (set TABAGENT_BIN)"
FIXTURES=$TA_SOURCE_DIR/tests/fixtures/hardware
[[ -d $FIXTURES/container ]] || die "missing fixtures in $FIXTURES"
STORIES=$TA_SOURCE_DIR/../shared/models/stories260K.gguf
[[ -f $STORIES ]] || die "missing $STORIES (the shared reference data)"

start_server
echo "# server on $BASE (pid $SERVER_PID)"

section "GET /v1/hardware/info"
req GET /v1/hardware/info
expect_status 200
expect_header Content-Type '^application/json'
expect_json 'd.sysroot === null' 'info: the real machine'
expect_json 'Number.isInteger(d.cpu.logical_threads) && d.cpu.logical_threads >= 1' 'info: threads'
expect_json 'd.cpu.physical_cores >= 1 && d.cpu.physical_cores <= d.cpu.logical_threads' 'info: cores <= threads'
expect_json "d.cpu.affinity_cpus === $(nproc)" 'info: affinity_cpus is what nproc says'
MEM_KB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
expect_json "d.memory.total_bytes === $MEM_KB * 1024" 'info: total memory is MemTotal'
expect_json 'd.memory.effective_available_bytes > 0 && d.memory.effective_available_bytes <= d.memory.total_bytes' \
    'info: effective available memory'
expect_json 'Array.isArray(d.cpu.features) && typeof d.cpu.features_source === "string"' 'info: features'
if [[ $(uname -m) == x86_64 ]] && grep -qw avx2 /proc/cpuinfo; then
    expect_json 'd.cpu.features.includes("avx2") && d.cpu.features_source === "cpuid"' 'info: avx2 by CPUID'
fi
expect_json 'Array.isArray(d.gpus) && Array.isArray(d.npus)' 'info: gpus and npus are lists'
expect_json 'd.providers.find(p => p.id === "cpu").usable === true' 'info: the CPU provider is usable'
expect_json 'd.providers.find(p => p.id === "directml").usable === false && /Windows|windows/.test(d.providers.find(p => p.id === "directml").why_not)' \
    'info: DirectML is not, and says why'
expect_json 'd.providers.length >= 20' 'info: the whole catalog'
expect_json 'd.backend.chosen === "cpu" && d.backend.preference[0] === "cuda"' 'info: backend cpu, preference order'
expect_json 'typeof d.probe_ms === "number" && d.probe_ms > 0' 'info: probe_ms'
echo "# probe_ms: $(json_value d.probe_ms) $(json_value 'JSON.stringify(d.probe_ms_parts)')"
FIRST=$(json_value d.probe_ms)
req GET /v1/hardware/info
expect_json "d.probe_ms === $FIRST" 'info: answered from the cached probe'
req GET '/v1/hardware/info?refresh=true'
expect_status 200 'GET /v1/hardware/info?refresh=true -> 200'
req GET '/v1/hardware/info?refresh=maybe'
expect_error 400 invalid_request refresh 'GET /v1/hardware/info?refresh=maybe -> 400'

section "POST /v1/hardware/feasibility"
post_json /v1/hardware/feasibility "{\"path\":\"$STORIES\",\"context\":512}"
expect_status 200 'feasibility of stories260K by path -> 200'
expect_json 'd.fits === true && d.where === "cpu" && d.rating === "comfortable"' 'stories260K fits on the CPU'
expect_json 'd.breakdown.kv_cache_bytes === 2 * 5 * 512 * 4 * 8 * 2' 'stories260K: KV cache 2*5*512*4*8*2'
expect_json 'd.required_bytes === d.breakdown.weights_bytes + d.breakdown.kv_cache_bytes + d.breakdown.overhead_bytes' \
    'required = weights + KV + overhead'
expect_json 'd.model.shape.layers === 5 && d.model.shape.kv_heads === 4 && d.model.source === "path"' 'shape from the GGUF'
expect_json 'Number.isInteger(d.threads) && d.threads >= 1' 'threads'
post_json /v1/hardware/feasibility '{"size_bytes":808000000,"layers":16,"kv_heads":8,"head_dim":64,"context":4096}'
expect_status 200
expect_json 'd.breakdown.kv_cache_bytes === 134217728' 'size + shape: KV cache 2*16*4096*8*64*2'
post_json /v1/hardware/feasibility '{"size_bytes":808000000,"shape":"llama-3.2-1b","context":4096,"kv_type":"q8_0"}'
expect_status 200
expect_json 'd.breakdown.kv_cache_bytes === 71303168' 'named shape with a q8_0 cache'
post_json /v1/hardware/feasibility '{"model":"qwen2.5-0.5b-instruct"}'
expect_status 200 'a library model, not downloaded -> 200'
expect_json 'd.model.source === "library" && d.context === 4096' 'judged from the library'
post_json /v1/hardware/feasibility '{"size_bytes":100000000000000}'
expect_status 200 'a 100 TB model -> 200'
expect_json 'd.fits === false && d.where === "none" && d.rating === "too_big" && d.headroom_bytes < 0' 'does not fit'
post_json /v1/actions/check_model_feasibility '{"size_bytes":1000000}'
expect_status 200 'the same through /v1/actions/check_model_feasibility'

post_json /v1/hardware/feasibility '{}'
expect_error 400 invalid_request 'exactly one of path, model or size_bytes'
post_json /v1/hardware/feasibility '{"size_bytes":-1}'
expect_error 400 invalid_request size_bytes
post_json /v1/hardware/feasibility '{"size_bytes":10,"context":"long"}'
expect_error 400 invalid_request context
post_json /v1/hardware/feasibility '{"size_bytes":10,"kv_type":"q4"}'
expect_error 400 invalid_request kv_type
post_json /v1/hardware/feasibility '{"size_bytes":10,"shape":"no-such-shape"}'
expect_error 400 invalid_request 'unknown shape'
post_json /v1/hardware/feasibility '{"size_bytes":10,"layers":3}'
expect_error 400 invalid_request kv_heads
post_json /v1/hardware/feasibility '{"size_bytes":'
expect_status 400 'malformed JSON -> 400'
post_json /v1/hardware/feasibility "{\"path\":\"$TA_SOURCE_DIR/CMakeLists.txt\"}"
expect_error 400 invalid_request '' 'a file that is not a GGUF -> 400'
post_json /v1/hardware/feasibility '{"path":"/nonexistent/model.gguf"}'
expect_error 404 not_found 'no such file'
post_json /v1/hardware/feasibility '{"model":"no-such-model"}'
expect_error 404 not_found 'no-such-model'
post_json /v1/hardware/feasibility '{"model":"nobody/nothing-GGUF:Q4_K_M"}'
expect_error 404 not_found 'not downloaded'
req GET /v1/hardware/feasibility
expect_status 405 'GET /v1/hardware/feasibility -> 405'

section "GET /v1/hardware/recommendations"
req GET /v1/hardware/recommendations
expect_status 200
expect_json 'Array.isArray(d.chat) && Array.isArray(d.embedding) && Array.isArray(d.too_big)' 'chat, embedding, too_big'
expect_json 'd.chat.length + d.embedding.length + d.too_big.length >= 9' 'every library model is placed'
expect_json 'd.chat.every(m => m.kind === "chat" && m.required_bytes <= d.effective_available_bytes)' 'chat models fit'
expect_json 'd.chat.length === 0 || d.best.chat === d.chat[0].name' 'best chat is the first'
req GET '/v1/hardware/recommendations?context=1024'
expect_status 200
expect_json 'd.context === 1024 && d.chat.every(m => m.context <= 1024)' 'context=1024'
req GET '/v1/hardware/recommendations?context=abc'
expect_error 400 invalid_request context

section "actions and OpenAPI"
req GET /v1/actions
for a in get_hardware_info check_model_feasibility get_recommended_models; do
    expect_json "d.actions.some(a => a.name === '$a')" "GET /v1/actions lists $a"
done
post_json /v1/actions/get_recommended_models '{}'
expect_status 200 'POST /v1/actions/get_recommended_models -> 200'
req GET /api-doc/openapi.json
expect_json '!!(d.paths["/v1/hardware/info"] && d.paths["/v1/hardware/feasibility"].post && d.paths["/v1/hardware/recommendations"].get)' \
    'the OpenAPI document has the hardware routes'
stop_server
expect_eq "$EXIT_RC" 0 'server stops cleanly'

section "tabagent hardware"
OUT=$TMP/cli.json
run_cli() { CLI_RC=0; "$CLI" hardware "$@" >"$OUT" 2>"$TMP/cli.err" || CLI_RC=$?; }
run_cli --json --sysroot "$FIXTURES/container"
expect_eq "$CLI_RC" 0 'hardware --json --sysroot container: exit 0'
expect_json 'd.sysroot.endsWith("container") && d.cgroup.version === 2 && d.cgroup.memory_max_bytes === 4294967296' \
    'container: the cgroup v2 memory limit' "$OUT"
expect_json 'd.cgroup.cpus === 2 && d.effective_cpus === 2 && d.cpu.logical_threads === 16' \
    'container: cpu.max 1.5 CPUs -> 2' "$OUT"
expect_json 'd.memory.effective_available_bytes === 4294967296 - 805306368' 'container: effective memory' "$OUT"
run_cli --json --sysroot "$FIXTURES/nvidia"
expect_json 'd.gpus.length === 1 && d.gpus[0].vendor === "NVIDIA" && d.gpus[0].name === "AD102 [GeForce RTX 4090]"' \
    'nvidia: the RTX 4090 by name' "$OUT"
expect_json 'd.gpus[0].driver_version === "550.54.14" && d.runtimes.cuda.library === true && d.runtimes.cuda.devices_ok === null' \
    'nvidia: driver version, CUDA found but not probed' "$OUT"
expect_json 'd.providers.find(p => p.id === "cuda").usable === true && d.backend.chosen === "cpu"' \
    'nvidia: CUDA usable, this build still chooses cpu' "$OUT"
run_cli --json --sysroot "$FIXTURES/amd"
expect_json 'd.gpus[0].vram_bytes === 25769803776 && d.providers.find(p => p.id === "rocm").usable' 'amd: VRAM, ROCm' "$OUT"
run_cli --json --sysroot "$FIXTURES/intel"
expect_json 'd.gpus.length === 2 && d.gpus[0].integrated && d.gpus[1].vram_bytes === 17179869184' 'intel: iGPU + Arc' "$OUT"
run_cli --json --sysroot "$FIXTURES/npu"
expect_json 'd.npus.length === 1 && d.npus[0].kind === "Intel NPU" && d.npus[0].driver === "intel_vpu"' 'npu: the Intel NPU' "$OUT"
run_cli --json --sysroot "$FIXTURES/arm"
expect_json 'd.cpu.arch === "aarch64" && d.cpu.microarchitecture === "Neoverse V1"' 'arm: Neoverse V1' "$OUT"
expect_json '["neon","dotprod","sve"].every(f => d.cpu.features.includes(f)) && !d.cpu.features.includes("avx2")' \
    'arm: NEON, dotprod, SVE' "$OUT"
run_cli --sysroot "$FIXTURES/arm"
expect_eq "$CLI_RC" 0 'the table: exit 0'
expect_file_contains "$OUT" 'Neoverse V1' 'the table names the core'
run_cli --json --recommend --sysroot "$FIXTURES/container"
expect_json 'd.recommendations.best.chat === "llama-3.2-3b-instruct" && d.recommendations.too_big[0].name === "phi-3.5-mini-instruct"' \
    'container: recommendations within 4 GiB' "$OUT"
run_cli --json --check "$STORIES" --context 512
expect_json 'd.feasibility.fits === true && d.feasibility.breakdown.kv_cache_bytes === 327680' '--check a GGUF' "$OUT"
run_cli --json
expect_eq "$CLI_RC" 0 'hardware --json on this machine: exit 0'
expect_json 'd.sysroot === null && d.cpu.logical_threads >= 1' 'this machine' "$OUT"
run_cli --sysroot /nonexistent-root
expect_eq "$CLI_RC" 2 '--sysroot of a missing directory: exit 2'
run_cli --bogus
expect_eq "$CLI_RC" 2 'an unknown option: exit 2'

finish
