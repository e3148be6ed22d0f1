"""Two honest baselines behind the `ScoringModel` interface: keyword rules and TF-IDF + logistic regression.

They exist to be beaten: the evaluation harness scores them exactly like the transformer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from classifier.results import RawPrediction, ScoredSpan
from classifier.taxonomy import Taxonomy, Tier, default_taxonomy
from classifier.text import segment

# Hand-written cue patterns (case-insensitive). Deliberately the obvious vocabulary an
# analyst would grep for; they know nothing about negation or context.
KEYWORD_RULES: dict[str, tuple[str, ...]] = {
    "face_detection": (
        r"face detect",
        r"detects? faces",
        r"face (blur|mask|redact)",
        r"face (count|capture)",
        r"mask detection",
        r"face[- ]priority",
        r"face (auto)?focus",
        r"best[- ]shot",
    ),
    "face_identification": (
        r"face (recognition|identification|search|match|comparison|librar)",
        r"blacklist",
        r"watch ?list",
        r"search by (photo|image|face)",
        r"1\s*:\s*n",
        r"one[- ]to[- ]many",
        r"person of interest",
        r"stranger",
        r"vip recognition",
    ),
    "face_verification": (
        r"1\s*:\s*1",
        r"one[- ]to[- ]one",
        r"face (unlock|verification)",
        r"selfie",
        r"kyc",
        r"liveness",
        r"e-?gate",
        r"identity verification",
    ),
    "emotion_recognition": (
        r"emotion",
        r"facial expression",
        r"micro[- ]?expression",
        r"engagement score",
        r"attention (level|score|tracking)",
        r"mood",
        r"deception",
        r"\bstress\b",
        r"affect",
    ),
    "biometric_categorisation": (
        r"\bage\b.{0,20}\bgender\b",
        r"gender\b.{0,20}\bage",
        r"demographic",
        r"ethnic",
        r"skin (tone|colou?r)",
        r"\brace\b",
        r"age estimation",
    ),
    "person_tracking": (
        r"re-?identification",
        r"\breid\b",
        r"cross[- ]camera",
        r"trajectory",
        r"appearance search",
        r"track(s|ing)? (a |the )?(person|individual|target|suspect)s?",
        r"\bgait\b",
    ),
    "voice_biometrics": (
        r"voice ?print",
        r"speaker (identification|recognition|verification|search)",
        r"voice (biometric|authentication|verification|id\b)",
    ),
    "other_biometrics": (r"fingerprint", r"\bafis\b", r"\babis\b", r"\biris\b", r"palm", r"vein", r"\bdna\b"),
    "license_plate_recognition": (r"\banpr\b", r"\blpr\b", r"\balpr\b", r"(licen[cs]e|number) plate"),
    "behaviour_analytics": (
        r"loiter",
        r"tailgat",
        r"fight",
        r"fall detection",
        r"crowd",
        r"abnormal behaviou?r",
        r"intrusion detection",
        r"line crossing",
        r"running detection",
    ),
    "communications_interception": (
        r"lawful interception",
        r"\bli\b",
        r"intercept",
        r"imsi catcher",
        r"deep packet inspection",
        r"\bdpi\b",
        r"monitoring cent(er|re)",
        r"\bhi[23]\b",
        r"mediation",
    ),
    "device_intrusion": (
        r"spyware",
        r"implant",
        r"exploit",
        r"zero[- ]click",
        r"forensic extraction",
        r"(passcode|password|lock) (bypass|recovery)",
        r"infect",
        r"remote (agent|installation)",
    ),
    "location_tracking": (
        r"gps tracker",
        r"geo-?fenc",
        r"cell[- ]id",
        r"\bss7\b",
        r"location track",
        r"locate (a |the )?(phone|subscriber|target)",
        r"probe request",
        r"mac address",
    ),
    "osint_profiling": (
        r"social media monitor",
        r"\bosint\b",
        r"link analysis",
        r"entity resolution",
        r"pattern of life",
        r"risk scor",
        r"key person",
        r"profil(e|ing)",
        r"predictive policing",
    ),
    "law_enforcement": (
        r"\bpolice\b",
        r"law enforcement",
        r"\bleas?\b",
        r"public security",
        r"intelligence (agenc|servic)",
        r"border",
        r"prison",
        r"military",
        r"homeland",
    ),
    "public_space_mass_scale": (
        r"safe city",
        r"smart city",
        r"city[- ]wide",
        r"nationwide",
        r"public spaces?",
        r"thousands of cameras",
        r"millions of",
    ),
    "real_time": (r"real[- ]time", r"\blive\b", r"instant(ly)? alert", r"within (a )?seconds?"),
    "covert": (r"covert", r"stealth", r"undetectable", r"hidden", r"no trace", r"unaware", r"invisible"),
    "sensitive_attributes": (
        r"ethnic",
        r"\brace\b",
        r"religio",
        r"uyghur",
        r"minorit",
        r"political",
        r"sexual orientation",
    ),
    "workplace_education": (
        r"employee",
        r"classroom",
        r"student",
        r"pupil",
        r"workplace",
        r"staff productivity",
        r"proctor",
        r"worker",
    ),
}
_PEOPLE_RECORDING = re.compile(
    r"\b(cctv|ip camera|dome camera|bullet camera|nvr|dvr|vms|video management|"
    r"body[- ]worn|people count|footfall|occupancy)",
    re.I,
)


class KeywordModel:
    """Flags a label when any of its cue patterns occurs; the tier is the taxonomy minimum."""

    version = "keyword-baseline-1"

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or default_taxonomy()
        self._rules = {lab: [re.compile(p, re.I) for p in pats] for lab, pats in KEYWORD_RULES.items()}
        missing = set(self.taxonomy.label_ids) - set(self._rules)
        if missing:
            raise ValueError(f"keyword rules missing for {sorted(missing)}")

    @property
    def thresholds(self) -> dict[str, float]:
        return dict.fromkeys(self.taxonomy.label_ids, 0.5)

    @property
    def high_tier_cut(self) -> float | None:
        return None

    def score(self, texts: Sequence[str], progress: bool = False) -> list[RawPrediction]:
        return [self._score_one(t) for t in texts]

    def _score_one(self, text: str) -> RawPrediction:
        scores: dict[str, float] = {}
        evidence: dict[str, list[ScoredSpan]] = {}
        segs = segment(text)
        for lab, pats in self._rules.items():
            hits = [m for p in pats for m in p.finditer(text)]
            scores[lab] = min(0.5 + 0.15 * len(hits), 0.95) if hits else 0.05
            spans = []
            for m in hits[:3]:
                seg = next((s for s in segs if s.start <= m.start() < s.end), None)
                start, end = (seg.start, seg.end) if seg else (m.start(), m.end())
                spans.append(ScoredSpan(start, end, scores[lab]))
            evidence[lab] = spans
        detected = [lab for lab, s in scores.items() if s >= 0.5]
        tier = self.taxonomy.minimum_tier(detected).tier
        if tier == Tier.MINIMAL and _PEOPLE_RECORDING.search(text):
            tier = Tier.LIMITED
        tier_scores = {t.id: (0.85 if t == tier else 0.05) for t in Tier}
        return RawPrediction(scores=scores, tier_scores=tier_scores, evidence=evidence)


class TfidfModel:
    """Word and character n-gram TF-IDF with one logistic regression per label and one for the tier."""

    version = "tfidf-baseline-1"

    def __init__(self, taxonomy: Taxonomy | None = None, thresholds: dict[str, float] | None = None) -> None:
        self.taxonomy = taxonomy or default_taxonomy()
        self._thresholds = thresholds or dict.fromkeys(self.taxonomy.label_ids, 0.5)
        self._fitted = False

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self._thresholds)

    @property
    def high_tier_cut(self) -> float | None:
        return None

    def set_thresholds(self, thresholds: dict[str, float]) -> None:
        self._thresholds = {**self._thresholds, **thresholds}

    def fit(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]], tiers: Sequence[str], seed: int = 0
    ) -> TfidfModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        self.vectorizer = FeatureUnion(
            [
                ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=60000)),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=(3, 5), min_df=3, sublinear_tf=True, max_features=60000
                    ),
                ),
            ]
        )
        x = self.vectorizer.fit_transform(texts)
        self.label_models: dict[str, LogisticRegression | None] = {}
        self._constant: dict[str, float] = {}
        for lab in self.taxonomy.label_ids:
            y = np.array([lab in ls for ls in labels], dtype=int)
            if y.min() == y.max():
                self.label_models[lab] = None
                self._constant[lab] = float(y[0])
                continue
            clf = LogisticRegression(C=8.0, class_weight="balanced", max_iter=2000, random_state=seed)
            self.label_models[lab] = clf.fit(x, y)
        tier_y = np.array([Tier.parse(t).value for t in tiers])
        self.tier_model = LogisticRegression(C=8.0, class_weight="balanced", max_iter=2000, random_state=seed).fit(
            x, tier_y
        )
        self._fitted = True
        return self

    def score(self, texts: Sequence[str], progress: bool = False) -> list[RawPrediction]:
        if not self._fitted:
            raise RuntimeError("TfidfModel.fit must run before score")
        x = self.vectorizer.transform(texts)
        probs = {lab: self._label_proba(lab, x) for lab in self.taxonomy.label_ids}
        tier_p = np.zeros((len(texts), len(Tier)))
        tier_p[:, self.tier_model.classes_] = self.tier_model.predict_proba(x)
        out = []
        for i, text in enumerate(texts):
            scores = {lab: float(probs[lab][i]) for lab in self.taxonomy.label_ids}
            positive = [lab for lab, s in scores.items() if s >= self._thresholds.get(lab, 0.5)]
            out.append(
                RawPrediction(
                    scores=scores,
                    tier_scores={t.id: float(tier_p[i, t.value]) for t in Tier},
                    evidence=self._evidence(text, positive),
                )
            )
        return out

    def _label_proba(self, lab: str, x: object) -> np.ndarray:
        model = self.label_models[lab]
        if model is None:
            return np.full(x.shape[0], self._constant[lab])  # type: ignore[attr-defined]
        return model.predict_proba(x)[:, 1]  # type: ignore[no-any-return]

    def _evidence(self, text: str, labels: Sequence[str]) -> dict[str, list[ScoredSpan]]:
        """Rank the text's segments by each label's classifier, read one segment at a time."""
        if not labels:
            return {}
        segs = segment(text)
        if not segs:
            return {}
        xs = self.vectorizer.transform([text[s.start : s.end] for s in segs])
        out: dict[str, list[ScoredSpan]] = {}
        for lab in labels:
            p = self._label_proba(lab, xs)
            best = np.argsort(-p)[:3]
            out[lab] = [ScoredSpan(segs[j].start, segs[j].end, float(p[j])) for j in best]
        return out
