"""Research experiments (recurrent parity networks). Filled in by issue 8; PyTorch is an optional extra."""
