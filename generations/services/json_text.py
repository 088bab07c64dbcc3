"""Reading the structure of JSON text that may not parse: what lies outside its strings."""

from collections.abc import Iterator


class Structure:
    """Iterates over (index, character) for every character outside the text's strings (quotes excluded).
    ``in_string`` tells, once iteration stopped, whether the text ended inside a string."""

    def __init__(self, text: str):
        self.text = text
        self.in_string = False

    def __iter__(self) -> Iterator[tuple[int, str]]:
        escaped = False
        for index, char in enumerate(self.text):
            if self.in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            else:
                yield index, char
