"""Reason codes: what a rejected applicant reads for each scored feature, and the bases a lender may not cite.

The sentences say what the reasons method measures: the score rises when the applicant's value is
replaced by the values of applicants approved just above the threshold. The prohibited bases follow
Regulation B (12 CFR 1002.2(z), 1002.6(b)); this is teaching material, not legal advice.
"""

# feature -> (code, sentence). Numeric features have one sentence per direction of the applicant's value
# against the references' median; "{}" is filled with "low" or "high".
CODES = {
    "age": ("R01", "Age is {} compared with applicants approved near the threshold"),
    "workclass": ("R02", "Type of employer scores lower than those of applicants approved near the threshold"),
    "education": ("R03", "Education scores lower than that of applicants approved near the threshold"),
    "occupation": ("R04", "Occupation scores lower than those of applicants approved near the threshold"),
    "capital-gain": ("R05", "Capital gains are {} compared with applicants approved near the threshold"),
    "capital-loss": ("R06", "Capital losses are {} compared with applicants approved near the threshold"),
    "hours-per-week": ("R07", "Hours worked per week are {} compared with applicants approved near the threshold"),
}

# Scored but never cited: a decision in which one ranks among the principal reasons is flagged instead.
PROHIBITED = {
    "gender": "sex",
    "ethnicity": "race",
    "marital-status": "marital status",
    "native-country": "national origin",
    # Husband, Wife, Own-child...: it encodes sex and marital status, so citing it would cite them.
    "relationship": "sex and marital status (proxy)",
}

# 1002.6(b)(2): age may be scored only if an elderly applicant (62 or older, 1002.2(o)) is not scored down
# for it, so age counting against one is flagged and not cited.
ELDERLY_AGE = 62
