# Writes the reference answers that pkg/analytics's rank-sum test is checked against:
# R's own wilcox.test(x, y, alternative, conf.int = TRUE, conf.level) on generated data
# sets. Nobody on this project wrote wilcox.test, which is the point.
#
#   Rscript hack/oracle/ranksum.R > pkg/analytics/testdata/ranksum_oracle.json
#
# (make oracle does this; Debian: apt-get install r-base-core). The data sets are drawn
# from a fixed seed and rounded to 7 significant digits, so the file is reproducible and
# each value prints exactly.

set.seed(20261205)

num <- function(v) {
  if (!is.finite(v)) return("null")
  sprintf("%.15g", v)
}
vec <- function(v) paste0("[", paste(sapply(v, num), collapse = ","), "]")
str <- function(s) paste0('"', s, '"')

cases <- list()
add <- function(name, x, y, alternative = "two.sided", conf = 0.95) {
  x <- signif(x, 7)
  y <- signif(y, 7)
  t <- suppressWarnings(wilcox.test(x, y, alternative = alternative, conf.int = TRUE,
                                    conf.level = conf))
  exact <- grepl("exact", t$method)
  cases[[length(cases) + 1]] <<- paste0(
    "{", paste(
      paste0('"name":', str(name)),
      paste0('"alternative":', str(alternative)),
      paste0('"confLevel":', num(conf)),
      paste0('"exact":', if (exact) "true" else "false"),
      paste0('"u":', num(unname(t$statistic))),
      paste0('"p":', num(t$p.value)),
      paste0('"estimate":', num(unname(t$estimate))),
      paste0('"ciLow":', num(t$conf.int[1])),
      paste0('"ciHigh":', num(t$conf.int[2])),
      paste0('"x":', vec(x)),
      paste0('"y":', vec(y)),
      sep = ","), "}")
}

alts <- c("two.sided", "greater", "less")
confs <- c(0.95, 0.9, 0.99)

# Continuous data, no ties: the exact distribution below 50 per sample.
sizes <- list(c(3, 3), c(3, 5), c(4, 4), c(5, 3), c(5, 8), c(7, 7), c(8, 8), c(10, 12),
              c(20, 20), c(30, 25), c(49, 49), c(12, 40))
i <- 0
for (s in sizes) {
  i <- i + 1
  add(sprintf("normal shifted n=%d/%d", s[1], s[2]),
      rnorm(s[1], 101, 5), rnorm(s[2], 100, 5), alts[(i %% 3) + 1], confs[(i %% 3) + 1])
}

# Large samples: the normal approximation.
sizes <- list(c(50, 50), c(60, 80), c(100, 100), c(200, 150), c(500, 500), c(1000, 1000),
              c(2000, 1500), c(5000, 5000))
for (s in sizes) {
  i <- i + 1
  add(sprintf("normal shifted n=%d/%d", s[1], s[2]),
      rnorm(s[1], 100.5, 5), rnorm(s[2], 100, 5), alts[(i %% 3) + 1], confs[(i %% 3) + 1])
  add(sprintf("no shift n=%d/%d", s[1], s[2]),
      rnorm(s[1], 100, 5), rnorm(s[2], 100, 5), alts[((i + 1) %% 3) + 1])
}

# Latency-like: log-normal in milliseconds, the candidate 10 % slower (scaled).
for (n in c(5, 15, 40, 120, 480, 3000)) {
  y <- rlnorm(n, log(200), 0.3)
  x <- rlnorm(n, log(200), 0.3) * 1.1
  add(sprintf("latency scaled 1.1 n=%d", n), x, y, "two.sided")
  add(sprintf("latency scaled 1.1 greater n=%d", n), x, y, "greater", 0.9)
}

# Ties: integer-valued and coarse data force the normal approximation with the tie
# correction, whatever the size.
for (n in c(3, 6, 10, 30, 100, 1000, 5000)) {
  add(sprintf("ties small integers n=%d", n),
      sample(1:5, n, replace = TRUE), sample(2:6, n, replace = TRUE), "two.sided")
  add(sprintf("ties rounded n=%d", n),
      round(rnorm(n, 50, 10)), round(rnorm(n, 48, 10)), alts[(n %% 3) + 1])
}

# Identical samples, with and without ties, and one sample inside the other.
for (n in c(3, 8, 25, 100)) {
  v <- rnorm(n, 10, 2)
  add(sprintf("identical n=%d", n), v, v, "two.sided")
  w <- sample(1:4, n, replace = TRUE)
  add(sprintf("identical with ties n=%d", n), w, w, "less")
}
add("sample within sample", c(4, 5, 6), c(1, 2, 3, 4.5, 5.5, 7, 8, 9), "two.sided")
add("complete separation exact", c(11, 12, 13, 14, 15), c(1, 2, 3, 4, 5), "two.sided")
add("complete separation large", 1000 + rnorm(200), rnorm(300), "two.sided")
add("complete separation less", rnorm(20), 50 + rnorm(20), "less", 0.99)

# Scale, not location: equal medians, unequal spread.
for (n in c(20, 300)) {
  add(sprintf("scaled spread n=%d", n), rnorm(n, 100, 20), rnorm(n, 100, 5), "two.sided")
}
# Skewed: exponential with a shift, and a heavy tail.
add("exponential shifted n=60", rexp(60, 1 / 30) + 5, rexp(60, 1 / 30), "greater")
add("cauchy n=400", rcauchy(400, 1, 10), rcauchy(400, 0, 10), "two.sided", 0.9)

cat("[\n", paste(cases, collapse = ",\n"), "\n]\n", sep = "")
