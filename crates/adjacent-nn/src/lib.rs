//! Networks from genotypes (burn). Filled in by the training issue.
