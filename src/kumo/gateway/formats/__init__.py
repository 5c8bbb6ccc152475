"""The LLM APIs kumo answers besides OpenAI chat (Anthropic Messages, OpenAI Responses), each as a translation to
and from OpenAI chat: requests one way, answers and streams the other. A model reached through another format
(any /compat provider, or Workers AI) is asked in OpenAI chat, and its answer comes back in the caller's format."""
