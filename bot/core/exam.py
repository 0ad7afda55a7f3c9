"""The three exam blueprints the bank is mapped to: domains, task statements and weights.

MLS-C01 (the source notes' exam) retired in March 2026; MLA-C01 ran until 28 September 2026
and MLA-C02 replaced it the next day. Every item names its task statement in each exam, or
`none` where that exam does not test the topic; the domain is the task's first digit.
"""

from __future__ import annotations

from dataclasses import dataclass

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

MLA_C02_DOMAINS = (
    "Data Preparation for ML and AI",
    "ML Model and Foundation Model (FM) Development",
    "Deployment and Orchestration of ML and AI Workflows",
    "Operating, Monitoring, and Securing ML and AI Solutions",
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

MLA_C01_TASKS = {
    "1.1": "Ingest and store data",
    "1.2": "Transform data and perform feature engineering",
    "1.3": "Ensure data integrity and prepare data for modeling",
    "2.1": "Choose a modeling approach",
    "2.2": "Train and refine models",
    "2.3": "Analyze model performance",
    "3.1": "Select deployment infrastructure based on existing architecture and requirements",
    "3.2": "Create and script infrastructure based on existing architecture and requirements",
    "3.3": "Use automated orchestration tools to set up CI/CD pipelines",
    "4.1": "Monitor model inference",
    "4.2": "Monitor and optimize infrastructure and costs",
    "4.3": "Secure AWS resources",
}

# MLA-C02 keeps MLA-C01's twelve-task shape and widens each task to foundation models, RAG
# and agents; the titles here are our summaries of the guide's task statements.
MLA_C02_TASKS = {
    "1.1": "Collect, ingest and store data, including vector stores and multimodal data",
    "1.2": "Transform data, engineer features and prepare data for foundation models",
    "1.3": "Validate data quality, mitigate bias and protect sensitive data",
    "2.1": "Choose a modeling approach: traditional ML, foundation models, RAG or agents",
    "2.2": "Train, tune and customize models and foundation models",
    "2.3": "Evaluate models and foundation models",
    "3.1": "Select and deploy inference infrastructure for models, FMs and agents",
    "3.2": "Create and script infrastructure, knowledge bases, retrieval and agent state",
    "3.3": "Automate ML and AI workflows with orchestration tools and CI/CD",
    "4.1": "Monitor models, RAG and agents in production",
    "4.2": "Monitor and optimize infrastructure, capacity and cost, including tokens",
    "4.3": "Secure ML and AI workloads, credentials for FMs and Guardrails",
}


@dataclass(frozen=True)
class Exam:
    """One blueprint: its domains with their share of scored content, and its task statements.

    `field` is the item field that holds this exam's task statement.
    """

    code: str
    name: str
    field: str
    domains: tuple[str, ...]
    weights: tuple[float, ...]
    tasks: dict[str, str]

    @property
    def blueprint(self) -> dict[str, float]:
        return dict(zip(self.domains, self.weights, strict=True))

    def domain_of(self, task: str | None) -> str | None:
        """The domain a task statement belongs to, or None for no or an unknown task."""
        if task not in self.tasks:
            return None
        return self.domains[int(task.split(".")[0]) - 1]


EXAMS = {
    "mls-c01": Exam("mls-c01", "AWS Certified Machine Learning – Specialty (MLS-C01)", "task",
                    MLS_DOMAINS, (0.20, 0.24, 0.36, 0.20), TASKS),
    "mla-c01": Exam("mla-c01", "AWS Certified Machine Learning Engineer – Associate (MLA-C01)",
                    "mla_c01_task", MLA_DOMAINS, (0.28, 0.26, 0.22, 0.24), MLA_C01_TASKS),
    "mla-c02": Exam("mla-c02", "AWS Certified Machine Learning Engineer – Associate (MLA-C02)",
                    "mla_c02_task", MLA_C02_DOMAINS, (0.28, 0.24, 0.24, 0.24), MLA_C02_TASKS),
}
DEFAULT_EXAM = "mls-c01"
NOT_TESTED = "none"  # the task value of an item that an exam does not test

BLUEPRINTS = {code: exam.blueprint for code, exam in EXAMS.items()}
EXAM_NAMES = {code: exam.name for code, exam in EXAMS.items()}


class UnknownExam(ValueError):
    """The exam code is not one of EXAMS."""


def exam(code: str) -> Exam:
    """The exam of a code ("mla-c02", case-insensitive); raises UnknownExam for anything else."""
    try:
        return EXAMS[code.strip().lower()]
    except (KeyError, AttributeError):
        raise UnknownExam(
            f"unknown exam {code!r}: use one of {', '.join(EXAMS)}"
        ) from None


def blueprint(code: str) -> dict[str, float]:
    """Domain weights of an exam code; raises UnknownExam for anything else."""
    return exam(code).blueprint


def task_domain(task: str) -> str | None:
    """The MLS-C01 domain a task statement belongs to, or None for an unknown task."""
    return EXAMS["mls-c01"].domain_of(task)
