import json
import sys

from django.core.management.base import BaseCommand

from specialists.services.engines import engine_report


class Command(BaseCommand):
    help = (
        "Reports whether Ollama (or the OpenAI-compatible server / built-in model) and every ComfyUI server "
        "answer, which models, checkpoints and nodes they offer, and how to fix what is missing. "
        "Exits 1 when something the studio needs is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        report = engine_report()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write("\n".join(text_report(report)))
        if not report["ok"]:
            sys.exit(1)


def text_report(report: dict) -> list[str]:
    llm = report["llm"]
    in_use = llm["active"] or "none"
    lines = [f"LLM  (LLM_BACKEND={llm['backend']}, in use: {in_use}, default model {llm['default_model']})"]
    lines += _engine_lines("Ollama", llm["ollama"])
    if llm["openai"]:
        lines += _engine_lines("OpenAI-compatible server", llm["openai"])
    else:
        lines.append("  OpenAI-compatible server: not configured (OPENAI_BASE_URL)")
    builtin = llm["embedded"]
    state = "available" if builtin["available"] else "not installed"
    if not builtin["enabled"]:
        state += ", disabled (LLM_EMBEDDED_ENABLED)"
    lines.append(f"  Built-in {builtin['model']}: {state}")

    lines += ["", "ComfyUI  (COMFYUI_URLS)"]
    for server in report["comfyui"]:
        if not server["available"]:
            lines.append(f"  {server['url']}: DOWN")
            continue
        lines.append(f"  {server['url']}: up")
        lines.append(f"    checkpoints: {', '.join(server['checkpoints']) or 'none'}")
        lines.append(f"    image nodes: {_missing(server['missing_image_nodes'])}")
        lines.append(f"    video nodes: {_missing(server['missing_video_nodes'])}")
        lines.append(f"    video models: {', '.join(server['video_checkpoints']) or 'none'}")
        lines += _family_lines(server["families"])

    if report["problems"]:
        lines += ["", "Missing (the studio needs these):"] + [f"  - {problem}" for problem in report["problems"]]
    if report["warnings"]:
        lines += ["", "Warnings:"] + [f"  - {warning}" for warning in report["warnings"]]
    verdict = "OK: everything the studio needs is there." if report["ok"] else "NOT READY: fix the items above."
    lines += ["", verdict, ""]
    return lines


def _engine_lines(label: str, engine: dict) -> list[str]:
    if not engine["available"]:
        return [f"  {label} at {engine['url']}: DOWN"]
    lines = [f"  {label} at {engine['url']}: up, {len(engine['models'])} model(s)"]
    for model in engine["models"]:
        details = ", ".join(filter(None, [model["family"], model["parameter_size"], _size(model["size"])]))
        lines.append(f"    - {model['name']}" + (f" ({details})" if details else ""))
    return lines


def _missing(nodes: list[str]) -> str:
    return f"missing {', '.join(nodes)}" if nodes else "all present"


def _size(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size else ""


def _family_lines(families: list[dict]) -> list[str]:
    """Ready families with their models; half-installed ones with what is missing; the rest in one line."""
    lines = ["    model families:"]
    for family in families:
        if family["ready"]:
            lines.append(f"      {family['label']}: ready ({', '.join(family['models'])})")
        elif family["models"]:
            lines.append(
                f"      {family['label']}: {', '.join(family['models'])}, but missing {'; '.join(family['missing'])}"
            )
    absent = [family["label"] for family in families if not family["models"]]
    if absent:
        lines.append(f"      not installed: {', '.join(absent)}")
    return lines
