"""The token is found in the documented order and never shown whole."""

from __future__ import annotations

import pytest

from helpers import credentials

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz123456"


@pytest.fixture
def no_token_anywhere(monkeypatch, tmp_path):
    for name in credentials.TOKEN_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setattr(credentials, "_from_colab", lambda: None)
    monkeypatch.setattr(credentials, "_from_kaggle", lambda: None)


def test_mask_shows_at_most_prefix_and_last_four():
    masked = credentials.mask_token(TOKEN)
    assert masked == "hf_...3456"
    assert TOKEN[3:-4] not in masked
    assert credentials.mask_token(None) == "(none)"
    assert credentials.mask_token("short") == "***"


def test_absent_token_is_fine(no_token_anywhere):
    token, where = credentials.find_hf_token()
    assert token is None and "fine for public models" in where


def test_environment_wins(no_token_anywhere, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(credentials, "_from_colab", lambda: "hf_colab_token_000000000")
    assert credentials.find_hf_token()[0] == TOKEN


def test_dotenv_file_is_read(no_token_anywhere, tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"HF_TOKEN={TOKEN}\n")
    token, where = credentials.find_hf_token(str(tmp_path / ".env"))
    assert token == TOKEN and ".env" in where
    monkeypatch.delenv("HF_TOKEN", raising=False)


def test_colab_then_kaggle(no_token_anywhere, monkeypatch):
    monkeypatch.setattr(credentials, "_from_kaggle", lambda: "hf_kaggle_token_1111111111")
    assert credentials.find_hf_token() == ("hf_kaggle_token_1111111111", "Kaggle secrets")
    monkeypatch.setattr(credentials, "_from_colab", lambda: "hf_colab_token_2222222222")
    assert credentials.find_hf_token() == ("hf_colab_token_2222222222", "Colab secrets")


def test_description_never_contains_the_token(no_token_anywhere, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    line = credentials.describe_hf_token()
    assert TOKEN not in line and "3456" in line
    assert TOKEN not in capsys.readouterr().out
