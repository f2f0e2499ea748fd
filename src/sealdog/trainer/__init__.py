"""The key holder's training side: e-mail parsing, featuriser, training, evaluation, sealing. Filled in by issue 3."""
