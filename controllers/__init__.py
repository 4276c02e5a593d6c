from . import main
from . import portal
from . import card_request
