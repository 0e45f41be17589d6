"""The user's data, read and checked: validation, the gene plan, model inputs, the partner graph, gene folds."""
