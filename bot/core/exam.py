"""The two exam blueprints the bank is mapped to: domains, task statements and weights."""

from __future__ import annotations

MLS_DOMAINS = (
    "Data Engineering",
    "Exploratory Data Analysis",
    "Modeling",
    "Machine Learning Implementation and Operations",
)

MLA_DOMAINS = (
    "Data Preparation for ML",
    "ML Model Development",
    "Deployment and Orchestration of ML Workflows",
    "ML Solution Monitoring, Maintenance, and Security",
)

# MLS-C01 task statements, keyed by number; the first digit names the domain.
TASKS = {
    "1.1": "Create data repositories for ML",
    "1.2": "Identify and implement a data ingestion solution",
    "1.3": "Identify and implement a data transformation solution",
    "2.1": "Sanitize and prepare data for modeling",
    "2.2": "Perform feature engineering",
    "2.3": "Analyze and visualize data for ML",
    "3.1": "Frame business problems as ML problems",
    "3.2": "Select the appropriate model(s) for a given ML problem",
    "3.3": "Train ML models",
    "3.4": "Perform hyperparameter optimization",
    "3.5": "Evaluate ML models",
    "4.1": "Build ML solutions for performance, availability, scalability, resiliency, "
    "and fault tolerance",
    "4.2": "Recommend and implement the appropriate ML services and features for a given problem",
    "4.3": "Apply basic AWS security practices to ML solutions",
    "4.4": "Deploy and operationalize ML solutions",
}

# Share of scored content per domain, from the two exam guides.
BLUEPRINTS = {
    "mls-c01": dict(zip(MLS_DOMAINS, (0.20, 0.24, 0.36, 0.20), strict=True)),
    "mla-c01": dict(zip(MLA_DOMAINS, (0.28, 0.26, 0.22, 0.24), strict=True)),
}

EXAM_NAMES = {
    "mls-c01": "AWS Certified Machine Learning – Specialty (MLS-C01)",
    "mla-c01": "AWS Certified Machine Learning Engineer – Associate (MLA-C01)",
}


class UnknownExam(ValueError):
    """The exam code is neither mls-c01 nor mla-c01."""


def blueprint(exam: str) -> dict[str, float]:
    """Domain weights of an exam code; raises UnknownExam for anything else."""
    try:
        return BLUEPRINTS[exam.lower()]
    except KeyError:
        raise UnknownExam(
            f"unknown exam {exam!r}: use one of {', '.join(sorted(BLUEPRINTS))}"
        ) from None


def task_domain(task: str) -> str | None:
    """The MLS-C01 domain a task statement belongs to, or None for an unknown task."""
    if task not in TASKS:
        return None
    return MLS_DOMAINS[int(task.split(".")[0]) - 1]
