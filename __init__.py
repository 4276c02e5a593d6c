from . import controllers, models, report, wizards
from . import demo  # last: it extends the models above
