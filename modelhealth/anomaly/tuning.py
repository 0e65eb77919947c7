"""Choosing the post-processing of the learned detector on the training files.

A grid of alert threshold x minimum magnitude x Holt-Winters threshold x burstiness rule
(the novelty window and the two discord rules fixed, no cooldown) is scored by event F1 on the
training files, using out-of-fold classifier probabilities. The docstrings of the grid below
record every setting that cross-validation on the training files adopted or rejected, round
by round.

Round 11 rejected, on the same 3-fold CV of the NAB training files (means of the three fold
splits; round 10 scored 0.506 with seed 0 and 0.531 over seeds 0-2, round 11 0.555 before
``BURST_REFS`` was fixed):
- a record-break rule (alert when a value leaves the range of its last 7 or 14 days by 10%
  or 25% of that range) added to the grid: 0.508 over seeds 0-2. Alone it is precise
  (14 days: 14 true and 7 false events on the training files) but adds false positives in
  union with the Holt-Winters rule, and as a filter on that rule it costs more true events
  than false ones;
- confirming a Holt-Winters alert on the next point (it must stay >= 0.5 or 0.25 of the
  threshold; caught windows are more often sustained than false alarms): 0.390 (0.422
  over seeds 0-2) and 0.497 against 0.506 (seed 0);
- comparing with the same hour of the last 7 days, or of 1-3 days and a week: 0.485 and
  0.501 against 0.506 (seed 0);
- the Holt-Winters error of log1p or sqrt of non-negative series: 0.465 and 0.495 (seed 0);
- a classifier trained on the real labelled windows alone, without injected copies: 0.505
  against 0.530 (seed 0, round 11);
- the Holt-Winters error of sqrt(x + 3/8) (Anscombe) on series of non-negative integers
  (counts: tweet volumes, travel times, speeds): 0.597 0.605 0.505 / 0.613 0.613 0.516 /
  0.605 0.613 0.333 against 0.585 0.480 0.526 / 0.585 0.585 0.532 / 0.578 0.585 0.538, the
  same mean (0.556 against 0.555), six lines up and three down.

Round 12 (mean 0.570 over the nine lines) rejected: ``FP_PENALTY`` 0.2 (0.562, one line
0.078 lower, none higher), ``postprocess.SEASONAL_DAYS`` 2 (0.535, all nine lower) and a
novelty window of 432 points (0.549, one line 0.192 lower, none higher).

Round 14 (round 13 scores 0.613 over the nine lines) adopted the discord rule
(``DISCORD_THRESHOLD``, ``signals.discord_score``): 0.656, all nine lines higher. Before
it, it rejected:
- the Holt-Winters rule on the error of the trailing-hour mean of the series (12 points,
  rescaled to the series' sampling) instead of the point error, to pass over single-point
  bursts: 0.620 0.521 0.603 / 0.576 0.620 0.592 / 0.588 0.559 0.620 (mean 0.589); offered
  beside the point error in the grid: 0.575.
- And, measured first on the rule alone over all 25 training files (thresholds 4-20; the
  round-13 rule takes 25 true and 17 false events there, F1 0.617), too weak to cross-validate:
  the error scaled by the std of the same hour of day over two weeks (alone 0.490, blended
  half and half with the two-week std 0.548); a winsorised (99th or 99.5th percentile) or
  median-based two-week scale (0.568, 0.485); the min or mean of three fixed-weight
  Holt-Winters errors (level weight 0.1/0.2/0.4 or seasonal 0.2/0.5/0.8: at most 0.617);
  the burstiness rule with reference 1.0-1.3, cap 2-8 and half slope (at most 0.617); and a
  per-series extreme-value threshold (SPOT-style: a generalised Pareto fitted to the scores
  above their two-week 98th percentile, refitted daily, alert risk 1e-3 to 3e-5 per point,
  floored at the rule threshold), precise but short of recall: 18 true and 7 false events
  at best (0.562).
- ``postprocess.SEASONAL_DAYS`` 4: 0.605, every line lower or level.
- A second, AlerTiger-style classifier over the rule's candidates instead of every point
  (fresh points at 0.6 of the rule's threshold: 86 on the training files, 41 of them in
  windows; eight features: score, margin over the threshold, burstiness, sign, time above
  half the threshold in the last hour, place in the two-week range, candidates in the last
  week, error relative to the level), leave-one-file-out: logistic regression 0.539 at
  best, LightGBM 0.574; in union or intersection with the rule never above the rule's
  0.617. Too few real candidates to learn from.
- A spike-density rule (points at 3 or 4 error stds in the last 3-12 hours, at least 3-8 of
  them, more than in any window of the last 2-7 days), for a region that turns busy: alone
  0.421 at best, in union with the rule at most 0.614 (27 true, 22 false events).

After round 14 (0.656 over the nine lines), rejected:
- Scanning a series with missing buckets on its regular grid (NaN in each missing bucket, so
  lags count time; the Holt-Winters signal skipping missing points), in training and
  scanning: 0.659 0.659 0.651 / 0.659 0.659 0.651 / 0.659 0.659 0.659 (mean 0.657; the seven
  gappy training files, traffic and ad-exchange, kept their counts). Not worth its risk: a
  classifier trained on gap-free series (the simulated fleet) sees the NaN lags after an
  hour-long gap as irregular, and on a 5-minute series with 10- and 60-minute gaps it
  alerted after 4 of them (0 without the grid).
- On the rule alone over the 25 training files (28 true, 18 false events, F1 0.659):
  burstiness-scaled novelty (the window times ``signals.burst_factor``, 1-4x) at most
  0.659 (no false event fewer); a cooldown of 1, 2, 3.5, 7 or 14 days 0.643, 0.627, 0.633,
  0.603, 0.554 (true events go as fast as false ones); a Holt-Winters alert needing a
  discord score of at least 0.5-4 as well, at most 0.617.

Round 17 (at commit c39db7d the nine lines are 0.636 0.621 0.614 / 0.526 0.621 0.621 /
0.621 0.621 0.621, mean 0.611, 186 false and 237 true events over the nine lines; fleet
0.914 0.889 0.886 / 0.899 0.901 0.928 / 0.914 0.877 0.873, mean 0.898) adopted
``signals.persistent`` on count series (0.684, all nine lines higher, the fleet unchanged;
see ``signals.PERSIST``). Screened first by re-tuning and re-scanning the cached fold models
of that CV (the rules do not change the forecaster or classifier; the replay reproduced the
nine lines exactly), it rejected:
- a fixed multiplier on the Holt-Winters and discord thresholds of count series: x1.5
  0.572, x2 0.522, x3 0.556 (at most one line higher): on the Twitter files the true events
  are bursts of the same size as the false ones (AMZN: caught at 3.8, 3.9, 5.8 and 31.6
  times the day's median, false events at 4.5-12), so a higher bar loses both alike;
- the Holt-Winters rule on a Box-Cox transform chosen per series (power 1 - b, b the slope
  of log local spread on log local mean over the first two weeks: about 0.8 for tweet
  volumes): on every non-negative series 0.503 (0.512 with the power rounded to 0, 1/2 or
  1), on count series only 0.591 (0.597 rounded; at most two lines higher);
- the burstiness scaling off for the discord rule (0.567) or the Holt-Winters rule (0.465),
  all nine lower; burstiness from the 99.5th/99.9th percentile or the mean of the top 1% of
  steps (none tells AMZN, 1.22 by the latter, from the artificial daily files, 1.31-1.56)
  and burstiness of the Anscombe transform of counts (nothing changed);
- a "sustained" rule beside the others, the Holt-Winters error of the trailing 1-, 3- or
  6-hour mean at 10, 15 or 20 stds: 0.581-0.611, never more than one line higher;
- two-scale evidence, a Holt-Winters alert only where that 1-hour-mean score also reaches
  k: on every series k 3 0.580, 5 0.591; on count series k 3 0.602, 4 0.597, 5 0.629 (six
  lines up, three down), 6 0.601, 8 0.601, and k 5 with a 30-minute or 2-hour mean 0.601
  and 0.593, so the 0.629 is an isolated point, not a plateau;
- ``HW_THRESHOLDS`` fixed at (0, 8): 0.622, one line higher (the fold that picked 20) and
  none lower; not adopted on one line, and ``signals.persistent`` already brings that fold
  back to 8;
- the persistence test on every series: 0.449 (one line higher): one-point spikes of CPU and
  ad-exchange series are labelled anomalies.

Round 18 (0.700 0.684 0.675 / 0.684 ... , mean 0.684) adopted the discord rule's record bar
(``postprocess.record_bar``): 0.716, all nine lines higher, the fleet too (0.898 -> 0.913).
A first version (a week's window, a floor of 4) let the grid search see the record alerts
cover for the Holt-Winters rule, and one fold switched that rule off (two lines fell to
0.588, TP 20); with three days and a floor of 5 no line fell.

Round 22 (NAB 0.747 0.747 0.747 / 0.732 0.732 0.732 / 0.732 0.732 0.732, mean 0.737, 273
true and 117 false events over the nine lines, after the loader kept one row per repeated
timestamp; fleet mean 0.913, 294 and 17) adopted the long discord rule
(``LONG_DISCORD_THRESHOLD``, ``signals.long_discord_score``): ``benchmarks/detection_cv.py``
gave NAB 0.762 0.762 0.762 / 0.747 0.747 0.747 / 0.747 0.747 0.747 (mean 0.752, 282 true and
117 false events: one window more on every line, no false event more), as its replay had;
the fleet 0.930 0.904 0.901 / 0.914 0.917 0.943 / 0.930 0.892 0.889 (mean 0.913, 294 and
17), unchanged on all nine. Screened on a replay of the cached fold models (which reproduced
the nine lines exactly), it rejected (NAB nine-line mean, true and false events summed over
the nine lines; every rule beside the others with the novelty rule, lines in the order above):
- a two-sided CUSUM of the Holt-Winters error in two-week stds (each point's error clipped to
  2, 3 or 5 stds, slack 0.5 or 1, alert at 10-40): on every series at most 0.737 (caps and
  slacks that catch anything: 0.485-0.728, TP 273-288, FP 126-549); on all but counts
  0.734 at best (cap 3, slack 0.5, 15: TP 282, FP 135), the new window (a hump of
  occupancy_6005) costing two false events per line on the same file, one of them in its
  first scored day. With that day left out as the Holt-Winters rule leaves it
  (``pipeline.YOUNG_DAMPING``): 0.752 at cap 3, slack 0.75, 12 (TP 282, FP 117) and at cap
  4, slack 0.25, 25, but 0.664 and 0.737 at 10 and 15 beside the first and 0.718 at 20
  beside the second: isolated points, not a plateau;
- the spread of the Holt-Winters errors over the last 1, 2, 3 or 4 hours over their two-week
  std (a noise burst rather than a spike), alert at 2-15: at 8-10 over an hour (and 6-8 over
  two hours, 5-7 over three, 5-6 over four) 0.747 0.747 0.747 / 0.747 0.747 0.747 / 0.747
  0.747 0.747 (mean 0.747, TP 279, FP 117; the fleet unchanged on all nine), lower
  thresholds adding false events (0.400-0.738). Not adopted on what that window is: a
  one-point dip of the traffic speed file speed_7578 in its first scored day, where the
  Holt-Winters rule waits (``pipeline.YOUNG_DAMPING``) and, on a count series, counts only
  an excursion the next point keeps (``signals.PERSIST``); the seed-0 classifier already
  catches it. Its spread rises because one error is 30 stds or more, not because the series
  turns noisy: with that day left out it catches no window at 5-8 (0.643-0.737),
  and letting the Holt-Winters rule alone through that day at 15-30 stds (undamped, not
  persistent) gives the same 0.747 on the same point. So the rule is an exception to two
  deliberate choices for one window, not a noise-burst detector: at lower thresholds each
  further window costs 15 or more false events per line;
- the reverse, spread over the last 6, 12, 24 or 48 hours falling below the two-week std by
  3-20x (a spiking CPU series that goes quiet): 0.298-0.737, never a window more without
  10 or more false events per line.

Round 23 (from round 22's 0.752, TP 282, FP 117) screened four ideas on the same replay and
adopted none:
- agreement as an extra rule, the Holt-Winters score at 4-6 with the discord score at 3-6
  within 1, 3 or 12 points: at most 0.752 (discord at 6: nothing new), 0.685-0.744 below
  (9 windows more at 36-90 false events more, or none at 9-54 more);
- confirmation instead of the Holt-Winters rule, its alerts kept only at 10-20 stds or
  where the discord score reaches 1-4 nearby: 0.607-0.664 (TP 192-219): single-point spikes
  are labelled anomalies in the CPU and ad-exchange files;
- a longer novelty for the Holt-Winters rule, 2 to 14 days instead of 1.25: 0.690-0.746,
  each a window or more fewer per line before a false event goes;
- a per-series bar, a score kept only if it also beats its own q-quantile of the last one to
  four weeks (times c): the Holt-Winters and discord rules at q 0.999, c 1 gave 0.770 (TP
  282, FP 99: a periodic CPU spike and a discord false event per line gone), but c 1.2 or q
  0.9995 cost 1-5 windows per line and c 0.8 or q 0.998 changed nothing: an edge, not a
  plateau. The remaining false events of the training files are mostly large spikes the
  labels leave out (Twitter_volume_AAPL, _AMZN), which no causal rule can tell apart.

Round 24 asked whether the hash folds over-reward these hand-made rules (the CV rose from
about 0.5 to 0.752 over the rounds while held-out event F1 stayed near 0.52): files of one NAB
category share shape and labelling style, so a hash fold keeps near-twins of each scored
file in its training part. ``benchmarks/detection_cv.py --group-by category`` (one fold per
category, six on the 25 training files) gave the round-22 detector 0.747 0.747 0.747 on seeds
0, 1, 2 (TP 31, FN 8, FP 13 each; per line artificialNoAnomaly 0/0/0, artificialWithAnomaly
4/0/1, realAWSCloudwatch 7/2/5, realAdExchange 5/2/1, realTraffic 5/3/0, realTweets 10/1/6
true/missed/false), against 0.752 for the nine hash lines (per line the same by category
but for a third of a traffic window). Each rule switched off, or a neighbour of its
constant, re-tuned and re-scanned on cached fold models of both CVs (every fold's tuning
and scan replayed exactly; category: mean of the three seed lines and TP/FN/FP summed over
them; hash: mean of the nine lines and sums over them):

==========================  ===================  ===================
change                      category CV          hash CV
==========================  ===================  ===================
none                        0.747   93  24  39   0.752  282  69  117
discord rule off            0.638   75  42  43   0.641  232 119  150
long discord rule off       0.732   90  27  39   0.737  273  78  117
record bar off              0.718   84  33  33   0.697  256  95  138
burstiness rule off         0.618   85  32  73   0.624  257  94  213
classifier rule off         0.747   93  24  39   0.747  279  72  117
Holt-Winters rule off       0.502   56  61  60   0.509  175 176  185
persistence off (counts)    0.671   89  28  59   0.672  268  83  176
same-hour test off          0.727   93  24  46   0.734  282  69  135
discord 7 / 10              0.721 / 0.706        0.726 / 0.733
long discord 4.5 / 6        0.747 / 0.732        0.752 / 0.737
burst_ref 1.1 / 1.3         0.721 / 0.738        0.702 / 0.743
record floor 4.5 / 6        0.747 / 0.741        0.752 / 0.719
record margin 1.0 / 1.2     0.747 / 0.734        0.752 / 0.701
record window 2 d / 1 w     0.747 / 0.741        0.752 / 0.746
novelty 288 / 432           0.738 / 0.747        0.742 / 0.752
same-hour days 2 / 4        0.735 / 0.741        0.743 / 0.746
``SELECTION`` pooled/min    0.747 / 0.747        0.751 / 0.736
``FP_PENALTY`` 0 / 0.2      0.747 / 0.747        0.751 / 0.752
inner groups by category    0.747                0.660  282  69  259
==========================  ===================  ===================

Also no higher on the category CV: discord 6 and 12 (0.713, 0.690), long discord 4 and 8
(0.729, 0.732), burst_ref 1.5 (0.638) or searched with off (0.747), ``FP_PENALTY`` 0.05 and
0.3, ``SELECTION`` mean, the Holt-Winters threshold fixed at 8. Nothing was adopted: no change
beats the current detector on either CV (each rule costs about as much on both), so the
category CV finds no rule that only fits near-twins. Why it cannot tell more: tuning picks the
same post-processing (classifier 0.95, magnitude 0, Holt-Winters 8) in all 18 category and all
27 hash fold models; the classifier rule at 0.95 raised one alert, and changed no event, over
the held categories of the 18 (on the hash folds it catches one traffic window on the seed-0
lines); what decides the alerts are the fixed constants above, chosen by hand on all 25
training files, which no re-partition of those files can test. A file bootstrap says the same:
12-file sets drawn by category from the category CV's per-file counts, with the held-out
split's category mix (2 artificialNoAnomaly, 2 artificialWithAnomaly, 2 realAWSCloudwatch, 2
realAdExchange, 3 realTraffic, 6 realTweets; file names only), score 0.750 (5-95%:
0.677-0.818; narrow, as it resamples only 25 files), never 0.521 in 20,000 draws: the held-out
files are harder than the training files of their own categories, not just other categories.
Further rules tuned on these 25 files are unvalidated by any CV over them; a rule's worth
needs labelled files nobody designed against.

Round 25 got such files: the AIOps Challenge 2018 KPI data (Tsinghua NetMan; 29 operations
KPIs of its finals training set, per-point labels by the organisers; a per-KPI copy of
``NetManAIOps/KPI-Anomaly-Detection``'s ``phase2_train.csv``, the original's large files not
being reachable here), converted to the NAB layout outside the repo: each file cut to its
first 20,160 points (14 days of 1-minute points; the 5-minute files whole), each run of
labelled points a window padded by 10 points. The fixed hash puts 20 files in training and 9
held out. The same replay on cached fold models (hash CV of the training files, nine lines,
means and TP/FN/FP summed) on both development sets, before any held-out run:

==============================  ===================  ===================
change                          NAB CV               KPI CV
==============================  ===================  ===================
none (long discord 5)           0.752  282  69  117  0.500  602 469 736
long discord off                0.737  273  78  117  0.538  578 493 505
long discord 6 / 8 / 10         0.737 / 0.737 / 0.737  0.522 / 0.538 / 0.539
discord rule off                0.641  232 119  150  0.545  591 480 509
both discord rules off          0.606  215 136  152  0.604  562 509 230
record bar off                  0.697  256  95  138  0.523  584 487 582
record bar + long discord off   0.680                0.564
Holt-Winters + classifier only  0.584  228 123  203  0.591  562 509 270
==============================  ===================  ===================

KPI's CV (0.500) predicts its held-out files (0.513 over seeds 0-2 with the round-22
detector): no design gap there. On KPI the classifier (+0.035), the Holt-Winters rule and the
novelty rule transfer; the discord rules and the record bar cost F1 (both discord rules off
+0.10, false events 736 -> 230), but NAB's CV loses more than KPI's gains for each of them
but one. Adopted, by the mean of the two CVs (declared before the NAB replays of this round
ran): the long discord threshold 5 -> 10, mean 0.626 -> 0.638 (6: 0.630, 8: 0.6375, off:
0.6375, a plateau from 8 on). At 5 the rule took one NAB training window per line and 231
false events over KPI's nine lines. Kept: both discord rules (mean 0.605), the record bar
(0.610). The two datasets differ in kind (KPI: many short spikes per file; NAB: a few long
windows), so the mean is a compromise, not a proof that the discord rules over-fit NAB.
Held out once after adopting (``benchmarks/detection.py``, seeds 0-2): NAB 0.521 -> 0.551 on
all three seeds (TP 19 both, FP 22 -> 18; round 20's figure), KPI 0.513 -> 0.550 (ARIMA
0.759 there, leading on one file of 20 windows it catches whole), the simulated fleet
0.959/0.972/0.972 -> 0.944/0.972/0.958 (round 20's lines: one window fewer on two seeds;
0.940 -> 0.924 with nightly gaps), while the fleet's training-file CV kept all nine lines
(mean 0.913).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from modelhealth.anomaly.dataset import LabelledSeries
from modelhealth.anomaly.evaluation import EventCounts, event_counts, warmup_points
from modelhealth.anomaly.features import build_features
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.pipeline import Scored, score_frame
from modelhealth.anomaly.postprocess import PostProcess, fresh

THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
NOVELTY = 360
"""The novelty window, in 5-minute points (see ``postprocess.novelty_points``).

Round 9: 360 (a day and a quarter). A spike that recurs daily at about the same hour (a
nightly job on a CPU series) came back 291 points after the last one, just outside a 288-point
window, and alerted every night; the window has to outlast a day by the jitter of such
events. 3-fold CV on the training files, three fold splits x seeds 0, 1, 2 (split means):
NAB 0.387, 0.492, 0.522 -> 0.438, 0.550, 0.552 (no split lower; 320 points: the same but
one split 0.004 lower); fleet 0.887, 0.863, 0.908 -> 0.883, 0.866, 0.908.

Round 6 fixed it at 288 (one day of 5-minute points): searched over
(0, 288, 576, 1152, 2016) it jumped between folds (1152/288/0) on only 39 training windows.
3-fold CV on the training files, two fold splits: NAB 0.400 -> 0.505 and 0.322 -> 0.322,
fleet unchanged (0.861, 0.901); 1152 alone fell to 0.349 on NAB."""
MAGNITUDES = (0.0, 1.0, 2.0)
"""Round 5 dropped 4.0: with the burstiness rule in the grid, one NAB fold picked magnitude 4
with a short novelty and made 35 false positives (3-fold CV F1 0.336); without 4.0 the same
grid scores 0.400, and no fleet fold ever picked 4.0 (0.861 either way)."""
OFF = 2.0
"""A probability threshold no point reaches: the classifier rule switched off."""
HW_THRESHOLDS = (0.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)
"""Holt-Winters rule thresholds tried (0 = off), in trailing two-week error stds.

Round 10 also tried a finer grid (adding 7, 9 and 12): 3-fold CV on the training files, three
fold splits x seeds 0, 1, 2, NAB split means 0.506, 0.540, 0.546 -> 0.502, 0.536, 0.514;
of the 27 folds 20 still picked 8, five 7, one 6 and one 10, and no split rose."""
BURST_REFS = (1.2,)
"""Burstiness references tried with every Holt-Winters threshold (``PostProcess.burst_ref``;
0 would switch the burstiness rule off).

Round 12 fixed it on: it only ever raises the threshold of series whose burstiness passes
1.2, so on other series it changes nothing, and offering "off" as well only gave the grid
search one more way to fit its folds: in one NAB fold it chose off with every seed, and
that held-out fold took 18 true and 25-27 false events where the rule on takes 17 and
15-17. 3-fold CV on the training files, three fold splits x seeds 0, 1, 2, NAB
split means 0.585 0.480 0.526 / 0.585 0.585 0.532 / 0.578 0.585 0.538 -> 0.585 0.480 0.571
/ 0.585 0.585 0.578 / 0.578 0.585 0.585 (mean 0.555 -> 0.570; three higher, none lower);
the fleet is unchanged on all nine.

Round 5, 3-fold
CV on the training files: on NAB 1.2 was picked in every fold and cut false positives
43 -> 33 at the same 18 true positives (event F1 0.360 -> 0.400); the fleet's series are
not bursty, every fold kept it off and F1 stayed 0.861. Rejected on NAB: burstiness,
kurtosis and alert-rate features for the classifier (same CV, 0.339); and, in a nested CV
of the filters alone (baseline 0.371, rule 0.400), an adaptive threshold at the series'
trailing 99.5th score percentile (0.345), a kurtosis-scaled threshold (0.366), an alert-rate
cap (0.370), classifier agreement on bursty series (0.371), a separate Holt-Winters novelty
window (0.356)."""
DISCORD_THRESHOLD = 8.0
"""The discord rule (``PostProcess.discord_threshold``), always on beside whatever the grid
picks, with the same burstiness scaling as the Holt-Winters rule; see
``signals.discord_score`` for its cross-validation. Fixed rather than searched: offered
as a grid of (off, 4, 6, 8, 10) it let one NAB fold switch the Holt-Winters rule off for
discord 4 and take 43 false events (nine-line mean 0.583 against 0.613 without the rule;
measured with a week's reach, where 8 alone scored 0.640)."""
SELECTION = "mean_min"
"""How a setting is ranked from its event counts per out-of-fold group: ``pooled`` F1,
``mean`` or ``min`` of the groups' F1, or ``mean_min`` (their average). Round 6, 3-fold CV on
the training files with the fixed novelty, two fold splits: pooled gave NAB 0.505/0.322 and
fleet 0.861/0.901; mean_min with ``FP_PENALTY`` 0.1 gave 0.505/0.322 and 0.870/0.901. Alone
(novelty searched), mean scored NAB 0.319 and min 0.430/0.310 with the fleet down to 0.836.
Round 7 measured the seed spread this selection leaves: with everything else fixed, three
out-of-fold groupings gave NAB CV 0.401, 0.360 and 0.502 (means of three fold splits).
Rejected there, as not narrowing it: ranking by the mean over three groupings (0.405, 0.384,
0.502), taking the fewest false positives among settings within 0.02 or 0.05 of the best
(0.395, 0.360, 0.502 and 0.395, 0.360, 0.433) and ``FP_PENALTY`` 0.3 (0.308, 0.386, 0.407)."""
LONG_DISCORD_THRESHOLD = 10.0
"""The long discord rule (``PostProcess.long_discord_threshold``), always on beside whatever
the grid picks, with the same burstiness scaling and novelty rule as the discord rule; see
``signals.long_discord_score``. Round 22 fixed it at 5 on NAB (4.5-5.5 alike, 6 catching one
training window less per line); round 25 raised it to 10, the middle of the plateau of the
mean CV over NAB and an independently labelled dataset (KPI): at 5 it was an edge fitted to
that one NAB window, costing 0.04 F1 on KPI (see the module docstring)."""
FP_PENALTY = 0.1
"""F1 subtracted per false-positive event per labelled window: a nudge towards conservative
settings when two settings score almost alike on few windows."""
# Burst-merging cooldowns (``postprocess.cool_down``) are not searched. Round 4 tried (0, 288):
# cross-validated on the training files it changed nothing on NAB (novelty already merges
# bursts) or on the fleet, and in one fleet fold it was picked and cost 22 false positives,
# so tuning leaves it off; a rule may still set ``cooldown``.


def tune_postprocess(
    model: LearnedModel,
    series: list[LabelledSeries],
    probs: list[np.ndarray] | None = None,
    cached: list[Scored] | None = None,
    groups: list[int] | None = None,
) -> tuple[PostProcess, float]:
    """Grid-search threshold x magnitude x Holt-Winters threshold x burstiness rule (with the
    two discord rules always on) for the best event F1 (ties: fewer false positives, then the
    earlier setting).

    With ``groups`` (each series' out-of-fold group) a setting is ranked by ``SELECTION``
    over the groups' F1, less ``FP_PENALTY``: the pooled best on a few dozen windows is often
    one lucky group, and such settings did not carry over to new files.

    ``probs`` (per series, e.g. out-of-fold) replace the model's own classifier output;
    ``cached`` holds the series' features and scores when the caller already has them.
    """
    if cached is None:
        cached = [scored_series(model, s) for s in series]
    if probs is None:
        probs = [model.classifier.predict_proba(c.feats) for c in cached]
    prob = [np.where(c.valid, p, 0) for p, c in zip(probs, cached, strict=True)]
    wins = [(s.window_index(), warmup_points(len(s.values))) for s in series]
    hw_rules = [(0.0, 0.0)] + [(k, ref) for k in HW_THRESHOLDS if k > 0 for ref in BURST_REFS]
    group_of = groups if groups is not None and SELECTION != "pooled" else [0] * len(cached)
    n_groups = max(group_of) + 1
    best, best_f1, best_key = PostProcess(), -1.0, (-np.inf,)
    clf_fresh = [c.alertable & fresh(c.score, NOVELTY, c.period) for c in cached]
    hw_fresh = [fresh(c.hw_seen, NOVELTY, c.period) for c in cached]
    hw_alerts = {
        (k, ref): [
            PostProcess(hw_threshold=k, burst_ref=ref).apply_rule(
                "holt_winters", c.hw, c.alertable, f, c.burst
            )
            for c, f in zip(cached, hw_fresh, strict=True)
        ]
        for k, ref in hw_rules
    }
    shape = PostProcess(discord_threshold=DISCORD_THRESHOLD, burst_ref=BURST_REFS[0])
    discord_alerts = [
        shape.apply_rule(
            "discord",
            c.discord,
            c.alertable,
            fresh(c.discord, NOVELTY, c.period),
            c.burst,
            c.discord_record,
        )
        for c in cached
    ]
    long_shape = replace(shape, long_discord_threshold=LONG_DISCORD_THRESHOLD)
    discord_alerts = [
        d
        | long_shape.apply_rule(
            "long_discord",
            c.long_discord,
            c.alertable,
            fresh(c.long_discord, NOVELTY, c.period),
            c.burst,
        )
        for d, c in zip(discord_alerts, cached, strict=True)
    ]
    for mag in MAGNITUDES:
        big = [f & (np.abs(c.signed) >= mag) for f, c in zip(clf_fresh, cached, strict=True)]
        for thr in (*THRESHOLDS, OFF):
            clf = None if thr == OFF else [(p >= thr) & ok for p, ok in zip(prob, big, strict=True)]
            for k, ref in hw_rules:
                if clf is None and k == 0 and DISCORD_THRESHOLD <= 0:
                    continue
                post = PostProcess(
                    threshold=thr,
                    min_magnitude=mag,
                    novelty=NOVELTY,
                    hw_threshold=k,
                    burst_ref=ref if k > 0 else shape.burst_ref,
                    discord_threshold=DISCORD_THRESHOLD,
                    long_discord_threshold=LONG_DISCORD_THRESHOLD,
                )
                per = [EventCounts() for _ in range(n_groups)]
                for i, (extra, (win, warm), g) in enumerate(
                    zip(hw_alerts[k, ref], wins, group_of, strict=True)
                ):
                    alerts = extra | discord_alerts[i]
                    if clf is not None:
                        alerts |= clf[i]
                    per[g] += event_counts(alerts, win, warmup=warm)
                key = selection_key(per)
                if key > best_key:
                    best, best_key = post, key
                    best_f1 = sum(per, EventCounts()).f1
    return best, best_f1


def selection_key(per: list[EventCounts]) -> tuple[float, ...]:
    """Rank of one setting from its counts per out-of-fold group (larger is better); the
    second entry breaks ties towards fewer false positives."""
    total = sum(per, EventCounts())
    f1s = [c.f1 for c in per if c.tp + c.fn]
    mean = float(np.mean(f1s)) if f1s else total.f1
    lo = min(f1s) if f1s else total.f1
    main = {"pooled": total.f1, "mean": mean, "min": lo, "mean_min": (mean + lo) / 2}[SELECTION]
    main -= FP_PENALTY * total.fp / max(total.tp + total.fn, 1)
    return round(main, 9), -float(total.fp)


def scored_series(model: LearnedModel, s: LabelledSeries) -> Scored:
    """:func:`score_frame` of a series with ``model``'s forecaster."""
    return score_frame(model.forecaster, build_features(s.timestamps, s.values))
