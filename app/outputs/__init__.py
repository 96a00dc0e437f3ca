"""Output history (出力履歴, S-A6/A7): every mail send and every file produced, with its checksum."""
