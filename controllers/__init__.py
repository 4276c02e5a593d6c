from . import main
from . import mercado_pago
from . import portal
from . import card_request
from . import payment_link
from . import post_processing
