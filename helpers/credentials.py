"""The Hugging Face token: found in the environment, .env, Colab or Kaggle, and never shown whole."""

from __future__ import annotations

import os

from dotenv import load_dotenv

TOKEN_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def mask_token(token: str | None) -> str:
    """A printable stand-in for a token: its prefix and last 4 characters at most, never the whole."""
    if not token:
        return "(none)"
    if len(token) <= 12:
        return "***"
    prefix = "hf_" if token.startswith("hf_") else ""
    return f"{prefix}...{token[-4:]}"


def _from_colab() -> str | None:
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return userdata.get("HF_TOKEN")
    except Exception:  # the secret is absent or notebook access to it was not granted
        return None


def _from_kaggle() -> str | None:
    try:
        from kaggle_secrets import UserSecretsClient  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return UserSecretsClient().get_secret("HF_TOKEN")
    except Exception:  # the secret is absent or not attached to this notebook
        return None


def find_hf_token(dotenv_path: str | None = None) -> tuple[str | None, str]:
    """Return (token, where it came from): environment or .env, then Colab, then Kaggle."""
    load_dotenv(dotenv_path, override=False)
    for name in TOKEN_NAMES:
        if os.environ.get(name):
            return os.environ[name], f"environment variable {name} (or .env)"
    for where, read in (("Colab secrets", _from_colab), ("Kaggle secrets", _from_kaggle)):
        token = read()
        if token:
            return token, where
    return None, "nowhere (fine for public models)"


def get_hf_token() -> str | None:
    """The token, or None; callers pass it to from_pretrained and never print it."""
    return find_hf_token()[0]


def describe_hf_token() -> str:
    """One line saying whether a token was found and where, with the token masked."""
    token, where = find_hf_token()
    return f"Hugging Face token: {mask_token(token)} from {where}"
