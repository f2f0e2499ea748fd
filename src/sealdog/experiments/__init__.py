"""Research experiments (recurrent parity networks); PyTorch is an optional extra."""
