"""Results files (helpers.results) and the table `make run` prints from them."""

from __future__ import annotations


def test_the_closing_summary_is_one_readable_row_per_notebook(tmp_path):
    from helpers.results import summary_table, write_results

    run = tmp_path / "python_style"
    write_results(run, "02_completion_only_sft", {"seconds": 114.0, "eval_loss_before": 0.9914,
                                                  "eval_loss_after": 0.5408, "tokens_per_second": 176.2,
                                                  "peak_memory_mb": 3336.3})
    write_results(run, "04_merged_vs_adapter_inference", {
        "seconds": 43.6, "n_test": 24, "style_adherence_before": 0.0, "style_adherence_after": 0.875,
        "pass_rate_before": {"passed": 11}, "pass_rate_after": {"passed": 7}, "agreement": 1.0})
    write_results(run, "03_adapter_saving", {"seconds": 16.6})  # an older results file: keys missing
    lines = summary_table(tmp_path).splitlines()
    assert lines[0].split() == ["notebook", "min", "key", "numbers", "[results", "in]"]
    assert "1.9  validation loss 0.991 -> 0.541; 176 tokens/s; peak 3.3 GB  [" in lines[1]
    assert lines[2].startswith("03_adapter_saving") and "rerun the notebook" in lines[2]
    assert "style 0.0% -> 87.5% (n=24); pass rate 11/24 -> 7/24" in lines[3]
    assert "e+" not in "\n".join(lines), "no scientific notation for a learner to decode"
    only = summary_table(tmp_path, {"02_completion_only_sft"}).splitlines()
    assert len(only) == 2 and only[1].startswith("02_completion_only_sft"), "rows of this run only"


# The library objects a notebook teaches, written out in its own code cells (not only inside a helper).
