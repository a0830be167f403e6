"""Helpers for the QLoRA fine-tuning course: everything the notebooks would otherwise repeat."""
