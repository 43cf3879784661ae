# bench:analysis, R side of the agreement section (tests/bench/analysis.bench.ts sources this file): the same
# statistics as @app/analysis readerAgreement, from the same ADTRRDR / ADRSRDR rows, in vectorised base R (+ vcd::Kappa
# for the kappas), so that R does the same work as our report. Pairs are matched on integer keys (match()), not
# pasted strings, and only the columns used are subset: the fastest base-R form we found (2.7 s -> 1.2 s per call on the
# 10,000-subject BICR). The bench checks R's ICC, kappa, adjudication rate and AI edit size against ours.
#   tr: ADTRRDR (USUBJID, EVALID, READER, AVISITN, LESIONID, AVAL, AVALC, AIVAL, AIVALC, AIDECN)
#   rs: ADRSRDR (USUBJID, EVAL, EVALID, READER, PARAMCD, AVALC, ADT, AVISITN, ADJFL)
#   ev: evaluators; pairs: list of c(a, b) evaluator pairs, in the report's order
agree <- function(tr, rs, ev, pairs, conf = 0.95) {
  alpha <- 1 - conf; z <- qnorm(1 - alpha / 2)
  special <- c("TOO SMALL TO MEASURE", "DISAPPEARED", "NOT ASSESSED")
  m <- tr[!is.na(tr$AVAL) & !(tr$AVALC %in% special), c("USUBJID", "AVISITN", "LESIONID", "EVALID", "AVAL")]
  sid <- match(tr$USUBJID, unique(tr$USUBJID)); lid <- match(tr$LESIONID, unique(tr$LESIONID)); nl <- max(lid)
  keep <- !is.na(tr$AVAL) & !(tr$AVALC %in% special)
  m$key <- ((sid[keep] * 1000) + m$AVISITN) * nl + lid[keep]
  byEv <- split(m[, c("key", "AVAL", "USUBJID")], m$EVALID)
  icc <- function(x) { # x: n x k matrix; ICC(2,1), ICC(3,1) with CIs (psych::ICC formulas)
    n <- nrow(x); k <- ncol(x); g <- mean(x); rm <- rowMeans(x); cm <- colMeans(x)
    ssr <- k * sum((rm - g)^2); ssc <- n * sum((cm - g)^2); sse <- sum((x - outer(rm, cm, "+") + g)^2)
    msr <- ssr / (n - 1); msc <- ssc / (k - 1); mse <- sse / ((n - 1) * (k - 1)); df2 <- (n - 1) * (k - 1)
    i2 <- (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n); i3 <- (msr - mse) / (msr + (k - 1) * mse)
    F <- msr / mse; fl <- F / qf(1 - alpha / 2, n - 1, df2); fu <- F * qf(1 - alpha / 2, df2, n - 1)
    fj <- msc / mse; a <- k * i2 * fj + n * (1 + (k - 1) * i2) - k * i2
    v <- (k - 1) * (n - 1) * a^2 / ((n - 1) * k^2 * i2^2 * fj^2 + (n * (1 + (k - 1) * i2) - k * i2)^2)
    f3u <- qf(1 - alpha / 2, n - 1, v); f3l <- qf(1 - alpha / 2, v, n - 1)
    c(icc21 = i2, lo21 = n * (msr - f3u * mse) / (f3u * (k * msc + (k * n - k - n) * mse) + n * msr), hi21 = n * (f3l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f3l * msr),
      icc31 = i3, lo31 = (fl - 1) / (fl + k - 1), hi31 = (fu - 1) / (fu + k - 1), p = pf(F, n - 1, df2, lower.tail = FALSE))
  }
  ba <- function(d) { n <- length(d); b <- mean(d); s <- sd(d); t <- qt(1 - alpha / 2, n - 1)
    c(bias = b, sd = s, lo = b - z * s, hi = b + z * s, bl = b - t * s / sqrt(n), bh = b + t * s / sqrt(n)) }
  wil <- function(x, n) c(x / n, prop.test(x, n, correct = FALSE, conf.level = conf)$conf.int)
  les <- lapply(pairs, function(p) {
    A <- byEv[[p[1]]]; B <- byEv[[p[2]]]; j <- match(A$key, B$key); ok <- !is.na(j)
    a <- A$AVAL[ok]; b <- B$AVAL[j[ok]]; mn <- (a + b) / 2
    list(pairs = length(a), subjects = length(unique(A$USUBJID[ok])), icc = icc(cbind(a, b)), ba = ba(a - b),
         bapct = ba((200 * (a - b) / (a + b))[a + b > 0]),
         tol = c(wil(sum(abs(a - b) <= 2), length(a)), wil(sum(abs(a - b) <= 0.1 * mn), length(a))), mean = mn, diff = a - b)
  })
  all3 <- Reduce(function(x, e) { j <- match(x$key, byEv[[e]]$key); ok <- !is.na(j); x <- x[ok, ]; x[[e]] <- byEv[[e]]$AVAL[j[ok]]; x }, ev[-1], init = data.frame(key = byEv[[ev[1]]]$key, r1 = byEv[[ev[1]]]$AVAL))
  iccAll <- icc(as.matrix(all3[, -1]))
  # time-point responses and BOR / PD per subject
  ovr <- rs[rs$PARAMCD == "OVR", c("USUBJID", "EVALID", "AVISITN", "AVALC")]; ovr$key <- match(ovr$USUBJID, unique(ovr$USUBJID)) * 1000 + ovr$AVISITN
  lv <- c("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"); ordl <- c(CR = "CR", PR = "PR", SD = "SD", "NON-CR/NON-PD" = "SD", PD = "PD")
  borp <- if (any(rs$PARAMCD == "CBOR")) "CBOR" else "BOR"
  rb <- rs[rs$PARAMCD == borp, c("USUBJID", "EVALID", "AVALC")]; rp <- rs[rs$PARAMCD == "PD", c("USUBJID", "EVALID", "AVALC", "ADT")]
  resp <- lapply(pairs, function(p) {
    A <- ovr[ovr$EVALID == p[1], ]; B <- ovr[ovr$EVALID == p[2], ]; j <- match(A$key, B$key); ok <- !is.na(j)
    x <- A$AVALC[ok]; y <- B$AVALC[j[ok]]
    k1 <- Kappa(table(factor(x, lv), factor(y, lv)))
    ox <- ordl[x]; oy <- ordl[y]; o <- !is.na(ox) & !is.na(oy)
    tw <- table(factor(ox[o], c("CR", "PR", "SD", "PD")), factor(oy[o], c("CR", "PR", "SD", "PD")))
    kl <- Kappa(tw, weights = "Equal-Spacing"); kq <- Kappa(tw, weights = "Fleiss-Cohen")
    bA <- rb[rb$EVALID == p[1], ]; bB <- rb[rb$EVALID == p[2], ]; jb <- match(bA$USUBJID, bB$USUBJID); okb <- !is.na(jb)
    bl <- c(lv, "MISSING"); kb <- Kappa(table(factor(bA$AVALC[okb], bl), factor(bB$AVALC[jb[okb]], bl)))
    pA <- rp[rp$EVALID == p[1], ]; pB <- rp[rp$EVALID == p[2], ]; jp <- match(pA$USUBJID, pB$USUBJID); okp <- !is.na(jp)
    sa <- pA$AVALC[okp]; sb <- pB$AVALC[jp[okp]]; da <- pA$ADT[okp]; db <- pB$ADT[jp[okp]]; both <- sa == "Y" & sb == "Y"
    dd <- abs(as.numeric(as.Date(da[both]) - as.Date(db[both])))
    list(tp = c(pairs = length(x), agree = wil(sum(x == y), length(x))), k = rbind(k1$Unweighted, kl$Weighted, kq$Weighted),
         bor = c(n = sum(okb), wil(sum(bA$AVALC[okb] == bB$AVALC[jb[okb]]), sum(okb)), kb$Unweighted),
         pd = c(status = wil(sum(sa == sb), length(sa)), date = wil(sum(sa == sb & (!both | da == db)), length(sa)), med = median(dd), max = max(dd)))
  })
  # target selection at baseline
  b0 <- tr$AVISITN == 0 & !(tr$AIDECN %in% "REJECT" & is.na(tr$AVAL) & is.na(tr$AVALC))
  eid <- match(tr$EVALID, ev); bk <- unique((sid[b0] * 8 + eid[b0]) * nl + lid[b0] - 1)
  bl <- list(s = bk %/% (8 * nl), e = ev[(bk %/% nl) %% 8], l = bk %% nl + 1)
  tsel <- lapply(pairs, function(p) {
    ia <- bl$e == p[1]; ib <- bl$e == p[2]; A <- list(s = bl$s[ia], l = bl$l[ia]); B <- list(s = bl$s[ib], l = bl$l[ib]); subj <- intersect(A$s, B$s)
    nA <- tabulate(A$s, max(sid))[subj]; nB <- tabulate(B$s, max(sid))[subj]
    common <- tabulate(A$s[!is.na(match(A$s * nl + A$l, B$s * nl + B$l))], max(sid))[subj]
    wil(sum(nA == nB & common == nA), length(subj)) })
  # adjudication
  sel <- rs[rs$PARAMCD == "BICRSEL", ]; adj <- sel$ADJFL %in% "Y"
  rd <- rs[rs$PARAMCD == borp & rs$EVAL == "INDEPENDENT ASSESSOR", c("USUBJID", "EVALID", "READER")]
  rd$adj <- adj[match(rd$USUBJID, sel$USUBJID)]; rd$chosen <- rd$adj & sel$AVALC[match(rd$USUBJID, sel$USUBJID)] == rd$EVALID
  perReader <- aggregate(cbind(n = 1, adj = rd$adj, chosen = rd$chosen) ~ READER, data = rd, FUN = sum)
  adjud <- list(rate = wil(sum(adj), nrow(sel)), perReader = perReader, bySlot = table(sel$AVALC[adj]))
  # AI effect
  d <- tr[!is.na(tr$AIDECN) & tr$AIDECN != "", c("READER", "AIDECN", "AVAL", "AVALC", "AIVAL", "AIVALC")]
  cnt <- table(d$READER, factor(d$AIDECN, c("ACCEPT", "EDIT", "REJECT", "ADD")))
  e <- d[d$AIDECN == "EDIT" & !is.na(d$AVAL) & !is.na(d$AIVAL) & !(d$AVALC %in% special) & !(d$AIVALC %in% special), ]
  sz <- abs(e$AVAL - e$AIVAL); pc <- (100 * sz / e$AIVAL)[e$AIVAL > 0]
  eff <- list(counts = rbind(cnt, all = colSums(cnt)), size = c(n = length(sz), mean = mean(sz), quantile(sz, c(0.25, 0.5, 0.75)), pct = median(pc)),
              byReader = tapply(sz, e$READER, quantile, c(0.25, 0.5, 0.75)))
  list(les = les, iccAll = iccAll, resp = resp, tsel = tsel, adjud = adjud, eff = eff)
}
