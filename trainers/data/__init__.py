"""From chats to tokens: the chat formats (one renderer for training and generation), exported chat
templates, reading chat files (shipped, prepared or plain JSONL), tokenising with labels, and the
training data a run reads. data_tools stops at text; tokenisation and masking live here."""
