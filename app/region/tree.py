"""The region tree held compactly in memory while an import is checked: integer codes in a dict
and typed arrays, never ORM objects, so the whole country fits in well under 100 MB."""

from array import array

from app.models.region import LEVELS, PATH_SEPARATOR


class RegionTree:
    """The region tree as the database holds it, overlaid with the file's rows."""

    def __init__(self) -> None:
        self.slot: dict[int, int] = {}
        self.parent = array("q")  # parent code, 0 for a root
        self.rank = array("b")
        self.line = array("l")  # line in the file, 0 when only in the database
        self.old_parent = array("q")  # -1 when the region is new
        self.old_rank = array("b")

    def add_existing(self, code: int, parent: int, rank: int) -> None:
        self.slot[code] = len(self.parent)
        self.parent.append(parent)
        self.rank.append(rank)
        self.line.append(0)
        self.old_parent.append(parent)
        self.old_rank.append(rank)

    def add_from_file(self, code: int, parent: int, rank: int, line: int) -> int:
        """Overlay a file row; returns the line that already gave this code, or 0."""
        index = self.slot.get(code)
        if index is None:
            self.slot[code] = len(self.parent)
            self.parent.append(parent)
            self.rank.append(rank)
            self.line.append(line)
            self.old_parent.append(-1)
            self.old_rank.append(0)
            return 0
        if self.line[index]:
            return self.line[index]
        self.parent[index], self.rank[index], self.line[index] = parent, rank, line
        return 0

    def ancestry(self, code: int) -> list[int]:
        """Codes from this region up to its root (stops if the chain loops)."""
        chain = [code]
        parent = self.parent[self.slot[code]]
        while parent and parent in self.slot and len(chain) <= len(LEVELS):
            chain.append(parent)
            parent = self.parent[self.slot[parent]]
        return chain

    def cycle(self, code: int) -> list[int]:
        """The loop of parents that leads back to this region, or [] if there is none."""
        chain = [code]
        parent = self.parent[self.slot[code]]
        while parent and parent in self.slot and len(chain) < 64:
            chain.append(parent)
            if parent == code:
                return chain
            if parent in chain[:-1]:
                return []
            parent = self.parent[self.slot[parent]]
        return []

    def path(self, code: int) -> str:
        """Codes from the root down to this region, each followed by '/'."""
        return "".join(f"{c:012d}{PATH_SEPARATOR}" for c in reversed(self.ancestry(code)))
