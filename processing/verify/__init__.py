"""Verification of a dedup candidate: align the two pictures and look for any region that changed.

Hashes only nominate candidates. A merge needs the aligned pictures to agree everywhere: another
colour shows in the colour check at signature scale; a changed label line ("500 ml" against
"300 ml") shows in the detail check, done at the finer of the two pictures' common scales; another
camera angle fails alignment (rotation) or leaves large differences.

Modules by concern: `image` (decoding, per-picture values), `alignment` (transforms, ECC, warping),
`difference` (primitives both checks share), `colour` and `detail` (the two checks), `verdict`
(the decision), `outcome` (thresholds, result, stop signal).
"""

from processing.verify.image import DetailSummary, UnreadableVerificationImage, VerifyImage, fit_long_side
from processing.verify.outcome import Verification, VerificationStopped, VerifyThresholds
from processing.verify.verdict import verify, warm_up

__all__ = [
    "DetailSummary",
    "UnreadableVerificationImage",
    "Verification",
    "VerificationStopped",
    "VerifyImage",
    "VerifyThresholds",
    "fit_long_side",
    "verify",
    "warm_up",
]
