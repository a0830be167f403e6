"""helpers.export: llama.cpp's converter from the pinned sdist, the metadata checks, llama.cpp's runtime, Ollama's TEMPLATE.

The models are built here: a 2-layer random Llama with the offline model's tokenizer (llama.cpp's converter knows
that tokenizer; it refuses the tiny Qwen2's, see below). Notebook 10's test (tests/test_core_walk.py) checks the
same chain on the fine-tuned offline model: identical answers, every answer stopping, the round trip.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from helpers import export
from helpers.export import (
    ExportError,
    check_metadata,
    convert,
    convert_lora,
    converter_dir,
    edit_metadata,
    generate_llama_cpp,
    load_llama,
    modelfile_for,
    quantize,
    read_metadata,
    render_template,
)
from helpers.models import TINY_PRESET, build_tiny_random_qwen2, load_tokenizer, provision_offline_model


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A saved 2-layer random LlamaForCausalLM with the offline (SmolLM2) tokenizer, and that tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny_llama") / "model"
    tokenizer = AutoTokenizer.from_pretrained(provision_offline_model(verbose=False))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


@pytest.fixture(scope="module")
def tiny_f16(tiny_llama):
    folder, _ = tiny_llama
    return convert(folder, folder.parent / "tiny-f16.gguf", "f16")


def prompt_ids(tokenizer, request: str = "Write a function that adds two numbers.") -> list[int]:
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": request}], tokenize=False,
                                           add_generation_prompt=True)
    return tokenizer(prompt)["input_ids"]


def llama_cpp_logits(path, ids: list[int], lora_path=None) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), lora_path=str(lora_path) if lora_path else None, logits_all=True, n_ctx=512,
                n_threads=1, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: llm.n_tokens])
    finally:
        llm.close()


def transformers_logits(model, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def test_the_converter_is_unpacked_from_the_pinned_sdist_and_nothing_else():
    folder = converter_dir()
    assert folder.name == f"llama.cpp-converter-{export.pinned_runtime().split('==')[1]}"
    assert sorted(path.name for path in folder.iterdir()) == [
        "conversion", "convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "gguf-py"]
    assert (folder / "gguf-py" / "gguf" / "gguf_reader.py").exists(), "the converter's own gguf-py comes with it"
    assert converter_dir() == folder, "a second call finds the unpacked copy"


def test_the_pinned_runtime_is_the_one_installed():
    from importlib.metadata import version

    assert export.pinned_runtime() == f"llama-cpp-python=={version('llama-cpp-python')}"


def test_a_tiny_llama_converts_with_its_tokenizer_template_and_end_of_turn(tiny_llama, tiny_f16):
    _, tokenizer = tiny_llama
    metadata = check_metadata(tiny_f16, tokenizer, "llama")
    assert metadata["architecture"] == "llama"
    assert metadata["chat_template"] == tokenizer.chat_template
    assert (metadata["eos_token_id"], metadata["eos_token"]) == (tokenizer.eos_token_id, "<|im_end|>")
    assert metadata["add_bos_token"] is False
    assert metadata["file_type"] == 1  # LLAMA_FTYPE_MOSTLY_F16


def test_llama_cpp_computes_what_transformers_computes(tiny_llama, tiny_f16):
    from transformers import AutoModelForCausalLM

    folder, tokenizer = tiny_llama
    ids = prompt_ids(tokenizer)
    expected = transformers_logits(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval(), ids)
    got = llama_cpp_logits(tiny_f16, ids)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 5e-3 * max(1.0, np.abs(expected).max()), "f16 rounding, nothing more"
    assert (got.argmax(-1) == expected.argmax(-1)).all()


def test_a_lora_gguf_on_the_base_gguf_matches_the_peft_model(tiny_llama, tiny_f16, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder, tokenizer = tiny_llama
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config).eval()  # random A and B: the adapter changes the outputs
    peft_model.save_pretrained(tmp_path / "adapter")
    lora = convert_lora(tmp_path / "adapter", folder, tmp_path / "lora-f16.gguf")
    assert read_metadata(lora)["architecture"] == "llama"
    ids = prompt_ids(tokenizer)
    with_adapter = transformers_logits(peft_model, ids)
    with peft_model.disable_adapter():
        without = transformers_logits(peft_model, ids)
    got = llama_cpp_logits(tiny_f16, ids, lora_path=lora)
    assert np.abs(with_adapter - without).max() > 0.05, "the adapter must change the logits for this test to mean anything"
    assert np.abs(got - with_adapter).max() < np.abs(with_adapter - without).max() / 20
    assert np.abs(got - with_adapter).max() < 5e-3 * max(1.0, np.abs(with_adapter).max())


def test_quantize_uses_llama_cpps_quantizer_and_the_file_still_runs(tiny_llama, tiny_f16, tmp_path):
    _, tokenizer = tiny_llama
    smaller = quantize(tiny_f16, tmp_path / "tiny-q4_k_m.gguf", "q4_k_m")
    assert smaller.stat().st_size < tiny_f16.stat().st_size
    assert read_metadata(smaller)["file_type"] == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    check_metadata(smaller, tokenizer, "llama")
    assert np.isfinite(llama_cpp_logits(smaller, prompt_ids(tokenizer))).all()
    with pytest.raises(ExportError, match="q3_banana"):
        quantize(tiny_f16, tmp_path / "x.gguf", "q3_banana")


@pytest.mark.parametrize("broken, field", [
    (("--special-token-by-id", "eos", "0"), "tokenizer.ggml.eos_token_id is 0 ('<|endoftext|>')"),
    (("--chat-template", "{{ messages }}"), "tokenizer.chat_template"),
])
def test_the_metadata_check_names_the_broken_field(tiny_llama, tiny_f16, tmp_path, broken, field):
    _, tokenizer = tiny_llama
    copy = edit_metadata(tiny_f16, tmp_path / "broken.gguf", *broken)
    with pytest.raises(ExportError, match="broken.gguf: ") as caught:
        check_metadata(copy, tokenizer, "llama")
    assert field in str(caught.value)
    check_metadata(tiny_f16, tokenizer, "llama")  # the original is untouched


def test_set_metadata_changes_one_field_of_a_copy(tiny_llama, tiny_f16, tmp_path):
    _, tokenizer = tiny_llama
    copy = export.set_metadata(tiny_f16, tmp_path / "eos0.gguf", "tokenizer.ggml.eos_token_id", 0)
    assert read_metadata(copy)["eos_token_id"] == 0 and read_metadata(tiny_f16)["eos_token_id"] == 2
    with pytest.raises(ExportError, match="eos0.gguf: tokenizer.ggml.eos_token_id is 0"):
        check_metadata(copy, tokenizer, "llama")


def test_the_metadata_check_names_a_wrong_architecture(tiny_llama, tiny_f16):
    with pytest.raises(ExportError, match="general.architecture is 'llama', the model is 'qwen2'"):
        check_metadata(tiny_f16, tiny_llama[1], "qwen2")


def test_answers_are_cut_at_the_end_of_turn_token_and_say_whether_they_stopped(tiny_llama, tiny_f16):
    _, tokenizer = tiny_llama
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                           add_generation_prompt=True)
    llm = load_llama(tiny_f16, threads=1)
    try:
        answers, stats = generate_llama_cpp(llm, [prompt], max_new_tokens=5, end_of_turn=[tokenizer.eos_token_id],
                                            tokenizer=tokenizer)
        assert stats["stopped"] == [False] and stats["new_tokens"] == 5, "a random model runs to max_new_tokens"
        assert stats["prompts_tokenized_differently"] == 0, "llama.cpp tokenizes the prompt as transformers does"
        first = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        greedy_first = next(iter(llm.generate(first, temp=0.0, top_k=1)))
        # Declare the token it says first its end of turn: the answer is empty and stopped.
        answers, stats = generate_llama_cpp(llm, [prompt], max_new_tokens=5, end_of_turn=[greedy_first])
        assert (answers, stats["stopped"], stats["new_tokens"]) == ([""], [True], 1)
    finally:
        llm.close()


def test_convert_refuses_a_4bit_merge_an_adapter_folder_and_an_unknown_type(tiny_llama, tmp_path):
    folder, _ = tiny_llama
    quantized = tmp_path / "merged_in_4bit"
    shutil.copytree(folder, quantized)
    config = json.loads((quantized / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (quantized / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match="quantization_config \\(bitsandbytes\\).*unquantized base"):
        convert(quantized, tmp_path / "x.gguf")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(ExportError, match="holds a LoRA adapter, not a model"):
        convert(adapter, tmp_path / "x.gguf")
    with pytest.raises(ExportError, match="q4_k_m"):
        convert(folder, tmp_path / "x.gguf", "q4_k_m")


def test_a_tokenizer_llama_cpp_does_not_know_stops_with_the_converters_reason(tmp_path):
    # The tiny Qwen2 loads the SmolLM2 vocabulary as a Qwen2Tokenizer, which splits text differently: llama.cpp
    # recognises a tokenizer by how it splits a probe text, and refuses one it does not know.
    with pytest.raises(ExportError, match="BPE pre-tokenizer was not recognized"):
        convert(build_tiny_random_qwen2(), tmp_path / "tiny-qwen2.gguf")


CONVERSATIONS = {
    "one turn": [{"role": "user", "content": "Write a function that adds two numbers."}],
    "two turns": [{"role": "user", "content": "Write a function."},
                  {"role": "assistant", "content": "```python\ndef f() -> None:\n    \"\"\"Do nothing.\"\"\"\n```"},
                  {"role": "user", "content": "Now with a docstring."}],
    "own system": [{"role": "system", "content": "Answer in one line."},
                   {"role": "user", "content": "Write a function."}],
}


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_the_modelfile_template_renders_the_chat_templates_prompt(tokenizer, conversation):
    messages = CONVERSATIONS[conversation]
    modelfile = modelfile_for("model.gguf", tokenizer)
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_template(modelfile, messages) == expected


def test_a_template_one_newline_off_is_caught(offline_tokenizer):
    modelfile = modelfile_for("model.gguf", offline_tokenizer)
    modelfile.template = modelfile.template.replace("{{ .Role }}\n", "{{ .Role }}")
    messages = CONVERSATIONS["one turn"]
    expected = offline_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_template(modelfile, messages) != expected


def test_ollama_merges_consecutive_messages_of_one_role(offline_tokenizer):
    messages = [{"role": "user", "content": "First."}, {"role": "user", "content": "Second."}]
    rendered = render_template(modelfile_for("model.gguf", offline_tokenizer), messages)
    assert "<|im_start|>user\nFirst.\n\nSecond.<|im_end|>" in rendered
    assert rendered != offline_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_the_modelfile_stops_at_every_end_of_turn_token(tmp_path):
    tokenizer = load_tokenizer(TINY_PRESET)
    folder = tmp_path / "qwen_like"
    folder.mkdir()
    both = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": both}))
    modelfile = modelfile_for("run-q4_k_m.gguf", tokenizer, folder)
    text = modelfile.text()
    assert text.startswith("FROM ./run-q4_k_m.gguf\nTEMPLATE \"\"\"")
    assert 'PARAMETER stop "<|im_end|>"\nPARAMETER stop "<|endoftext|>"\n' in text
    assert "PARAMETER temperature 0\n" in text
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in text


def test_a_template_that_is_not_chatml_is_refused(offline_tokenizer):
    from copy import deepcopy

    other = deepcopy(offline_tokenizer)
    other.chat_template = "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
    with pytest.raises(ExportError, match="not ChatML"):
        modelfile_for("model.gguf", other)


def test_the_command_line_exports_checks_and_writes_a_modelfile(tiny_llama, tmp_path, capsys):
    folder, _ = tiny_llama
    export.main([str(folder), "--out", str(tmp_path / "out"), "--formats", "q4_k_m", "--requests", "2",
                 "--max-new-tokens", "4"])
    report = json.loads((tmp_path / "out" / "export_report.json").read_text())
    # Q4_K_M is quantized from an f16 file, which the round trip reads back too: f16 is made first.
    assert [row["model"] for row in report["rows"]] == ["transformers", "llama.cpp f16", "llama.cpp q4_k_m"]
    f16 = report["rows"][1]
    assert f16["prompts_tokenized_differently"] == 0 and f16["identical"] == report["n"] == 2
    trip = report["round_trip"]
    assert trip["max_logit_difference"] < 0.05 and trip["positions"] > 0
    assert trip["flipped"] <= 1 and trip["widest_flipped_gap"] < 0.1, "only a near-tie may flip under f16 rounding"
    assert (tmp_path / "out" / "Modelfile").read_text().startswith("FROM ./model-q4_k_m.gguf\n")
    assert "Round trip" in capsys.readouterr().out


def test_llama_cpp_is_built_without_amx_on_x86_and_keeps_other_cmake_args():
    assert export.llama_cpp_cmake_args("", "x86_64") == "-DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8"
    assert export.llama_cpp_cmake_args("-DGGML_BLAS=ON", "AMD64").startswith("-DGGML_BLAS=ON -DCMAKE_C_FLAGS=")
    assert export.llama_cpp_cmake_args("-DGGML_BLAS=ON", "arm64") == "-DGGML_BLAS=ON", "the flag is x86-only"
    once = export.llama_cpp_cmake_args("", "x86_64")
    assert export.llama_cpp_cmake_args(once, "x86_64") == once


def test_tokens_longer_than_32_bytes_are_not_lost(tiny_llama, tiny_f16):
    _, tokenizer = tiny_llama
    long = [token_id for token_id in range(len(tokenizer))
            if len(tokenizer.decode([token_id]).encode("utf-8")) > 32 and token_id not in tokenizer.all_special_ids][:3]
    assert long, "SmolLM2's vocabulary has tokens of more than 32 bytes (runs of spaces, '-', '#', '=')"
    ids = tokenizer("def f():\n")["input_ids"] + long + tokenizer("    return 1")["input_ids"]
    llm = load_llama(tiny_f16, threads=1)
    try:
        assert export.detokenize(llm, ids) == tokenizer.decode(ids, skip_special_tokens=True)
    finally:
        llm.close()
