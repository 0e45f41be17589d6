# Messages from the Python core name Python methods and keyword arguments; R users call
# the Seurat verbs with dotted arguments. Rewrite the Python phrases into their R
# equivalents (applied to every message, warning and error that reaches R).

# Python phrase (regular expression) -> R phrase, applied in order.
.r_phrases <- c(
  # methods and attributes
  "\\bmodel\\.calibrate\\(\\)" = "CalibrateStcross()",
  "\\bmodel\\.train\\(\\)" = "TrainStcross()",
  "\\bCrossModalModel\\.load\\([^)]*\\)" = "LoadStcross()",
  "\\bmodel\\.save\\(\\)" = "SaveStcross()",
  "\\bmodel\\.save\\(([^)]*)\\)" = "SaveStcross(model, \\1)",
  "\\bthe trained CrossModalModel\\b" = "the trained model",
  "\\bmodel\\.imputable_genes\\b" = "model$imputable.genes",
  "\\bmodel\\.shared_genes\\b" = "model$shared.genes",
  # duplicated names: Seurat objects refuse them, matrices may have them
  "e\\.g\\. `a = adata_(sc|st)\\.copy\\(\\); a\\.var_names_make_unique\\(\\)`" =
    "e.g. rownames(x) <- make.unique(rownames(x)) on the \\U\\1\\E matrix",
  "e\\.g\\. `a = adata_(sc|st)\\.copy\\(\\); a\\.obs_names_make_unique\\(\\)`" =
    "e.g. colnames(x) <- make.unique(colnames(x)) on the \\U\\1\\E matrix",
  # where the data came from
  "\\badata_(sc|st)\\.var_names\\b" = "the gene names of the \\U\\1\\E data",
  "\\badata_(sc|st)\\.obs_names\\b" = "the cell names of the \\U\\1\\E data",
  "\\badata_(sc|st)\\.layers\\['([^']*)'\\]" = "the \\U\\1\\E data (layer \"\\2\")",
  "\\badata_st\\.obsm\\['[^']*'\\]" = "the ST coordinate matrix",
  "\\badata_(sc|st)\\.X\\b" = "the \\U\\1\\E data",
  "\\badata_(sc|st)\\b" = "the \\U\\1\\E data",
  # the verbs' arguments (the keyword forms come first: "name=" -> "name = ")
  "\\blikelihood_(sc|st)=" = "likelihood.\\1 = ",
  "\\bcase_insensitive=" = "case.insensitive = ",
  "\\b(overwrite|device|threads|interval)=" = "\\1 = ",
  "\\bspatial_key=" = "coords = ",
  "\\bseed=" = "seed.use = ",
  "\\b(n|max|batch|level|zero|min)_(samples|epochs|size|folds|cells|neighbors|bins|genes)=" = "\\1.\\2 = ",
  "\\blikelihood_(sc|st)\\b" = "likelihood.\\1",
  "\\b(n|max|batch)_(samples|epochs|size|folds|cells|neighbors)\\b" = "\\1.\\2",
  # Python literals after an R argument
  "( = )True\\b" = "\\1TRUE",
  "( = )False\\b" = "\\1FALSE",
  "( = )None\\b" = "\\1NULL",
  "( = )'([^']*)'" = "\\1\"\\2\""
)

.r_words <- function(text) {
  if (!is.character(text)) {
    return(text)
  }
  if (length(text) != 1L) {
    return(vapply(text, .r_words, character(1), USE.NAMES = FALSE))
  }
  # "layer='counts'" belongs to the modality the message is about.
  role <- if (grepl("adata_st|likelihood_st", text)) "st" else "sc"
  text <- gsub("\\blayer='", paste0(role, ".layer = '"), text, perl = TRUE)
  # Python lists of names, ['a', 'b'], as R vectors, c("a", "b").
  lists <- gregexpr("(?<![\\w\\]])\\[(?:'[^']*'(?:, )?)+\\]", text, perl = TRUE)
  regmatches(text, lists) <- lapply(regmatches(text, lists), function(found) {
    paste0("c(", gsub("'", "\"", substr(found, 2L, nchar(found) - 1L), fixed = TRUE), ")")
  })
  # A misspelt argument, as Python reports it, under the name the R user typed.
  typo <- regmatches(text, regexec("\\S+\\(\\) got an unexpected keyword argument '([^']*)'", text))[[1]]
  if (length(typo)) {
    text <- sub(typo[1], sprintf("unknown argument '%s'", gsub("_", ".", typo[2], fixed = TRUE)), text,
                fixed = TRUE)
  }
  for (i in seq_along(.r_phrases)) {
    text <- gsub(names(.r_phrases)[i], .r_phrases[[i]], text, perl = TRUE)
  }
  text
}

# R-style arguments (`max.epochs = 15`) for a Python method: dots become underscores, and
# `seed.use` is Python's `seed`. Unnamed extras are refused, saying which verb got them.
.py_kwargs <- function(args, verb) {
  if (!length(args)) {
    return(list())
  }
  if (is.null(names(args)) || any(!nzchar(names(args)))) {
    stop(sprintf("%s(): extra arguments must be named, e.g. max.epochs = 10.", verb), call. = FALSE)
  }
  names(args) <- sub("^seed_use$", "seed", gsub(".", "_", names(args), fixed = TRUE))
  .whole_numbers_as_integers(args)
}
