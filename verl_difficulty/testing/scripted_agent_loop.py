"""An agent loop that answers from a script instead of a model, to run verl's rollout path on CPU.

verl 0.9.1 generates with vLLM / SGLang only, so a training step cannot run without GPUs. Everything around
generation can: verl's agent-loop workers, the streaming reward loop, TransferQueue, the replay buffer and
the trainers' batch handling. This loop stands in for the model: it answers each prompt with the row's
ground truth when the row's difficulty tier is in ``correct_tiers`` and with a wrong answer otherwise, so
the accuracy of every tier is known in advance. Rows of ``half_tiers`` are answered correctly in every other
session of their GRPO group (``session_id`` even; only the v1 trainer numbers sessions, so with the legacy
trainer they are always answered wrongly). Register it through verl's own mechanism::

    # agent_loops.yaml
    - name: scripted
      _target_: verl_difficulty.testing.scripted_agent_loop.ScriptedAgentLoop
      metric: pism
      correct_tiers: [mid]

    actor_rollout_ref.rollout.agent.agent_loop_config_path=agent_loops.yaml
    actor_rollout_ref.rollout.agent.default_agent_loop=scripted

The prompt is tokenized as text (images are not sent to any model here); responses are
``<think>…</think><answer>…</answer>`` so the ``difficulty`` reward manager's format check passes.
"""

from __future__ import annotations

from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput

from verl_difficulty.difficulty import get_tier

WRONG = "zzqqx"


def scripted_response(row: dict[str, Any], metric: str, correct_tiers, half_tiers=()) -> tuple[str, bool]:
    """(response text, whether it is correct) for a dataset row (with ``session_id`` when the trainer gives one)."""
    reward_model = row.get("reward_model") or {}
    truth = str(reward_model.get("ground_truth", ""))
    tier = get_tier(row, metric)
    session = row.get("session_id")
    correct = tier in set(correct_tiers) or (tier in set(half_tiers) and session is not None and int(session) % 2 == 0)
    answer = truth if correct else WRONG
    info = row.get("extra_info") or {}
    if not correct and info.get("task") == "choice":
        options = list(info.get("options") or [])
        letters = [chr(ord("A") + i) for i in range(max(len(options), 2))]
        answer = next(letter for letter in letters if letter != truth.strip().upper())
    return f"<think>scripted</think><answer>{answer}</answer>", correct


class ScriptedAgentLoop(AgentLoopBase):
    """Answers correctly exactly for rows whose ``metric`` tier is in ``correct_tiers``.

    Args (from the agent-loop config entry): metric (default ``pism``), correct_tiers (default ``[mid]``),
    half_tiers (default none); the rest is what verl passes every agent loop.
    """

    def __init__(self, *args, metric: str = "pism", correct_tiers=("mid",), half_tiers=(), **kwargs):
        kwargs.pop("name", None)
        super().__init__(*args, **kwargs)
        self.metric = str(metric)
        self.correct_tiers = tuple(str(t) for t in correct_tiers)
        self.half_tiers = tuple(str(t) for t in half_tiers)

    async def run(self, sampling_params: dict[str, Any], **kwargs) -> AgentLoopOutput:
        text, _ = scripted_response(kwargs, self.metric, self.correct_tiers, self.half_tiers)
        messages = []
        for message in kwargs["raw_prompt"]:
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(
                    p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
                )
            messages.append({"role": message.get("role", "user"), "content": content or ""})
        prompt_ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "input_ids"):
            prompt_ids = prompt_ids["input_ids"]
        prompt_ids = list(prompt_ids)[-self.rollout_config.prompt_length :]
        response_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][
            : self.rollout_config.response_length
        ]
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            response_mask=[1] * len(response_ids),
            num_turns=2,
            metrics=AgentLoopMetrics(),
        )
