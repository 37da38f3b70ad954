"""Interoperability with the libraries practitioners fine-tune with.

:mod:`lora_theory.interop.peft` exports the constructions' adapters as a PEFT ``PeftModel`` (optional extra
``peft``: ``pip install 'lora-theory[peft]'``). Importing this package imports nothing optional; the submodule
imports PEFT when a function that needs it is called.
"""
