"""Names for demo officers: a mix as varied as London's, drawn with a seeded generator."""

FIRST_NAMES: tuple[str, ...] = (
    "James", "Oliver", "Mohammed", "Harry", "George", "Jack", "Daniel", "Thomas", "Samuel",
    "Joshua", "Adam", "Ryan", "Kwame", "Tomasz", "Arjun", "Luca", "Ibrahim", "Connor", "Dylan",
    "Kieran", "Michael", "David", "Chidi", "Hassan", "Marcus", "Ben", "Liam", "Aaron", "Rory",
    "Nathan", "Amelia", "Olivia", "Sophie", "Emily", "Jessica", "Charlotte", "Hannah", "Aisha",
    "Fatima", "Priya", "Grace", "Chloe", "Lucy", "Megan", "Zara", "Ella", "Ruth", "Sarah",
    "Laura", "Katie", "Natalia", "Ama", "Yasmin", "Niamh", "Isabel", "Rebecca", "Leah", "Anna",
    "Maria", "Jade",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner",
    "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker",
    "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker",
    "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter", "Richardson",
    "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Khan", "Ahmed", "Ali", "Hussain", "Begum",
    "Singh", "Kaur", "Okafor", "Mensah", "Adeyemi", "Nowak", "Kowalski", "Popescu", "Yilmaz",
    "Silva", "Santos", "Rossi", "O'Brien", "Byrne", "Campbell", "Osei", "Chen", "Nguyen",
)  # fmt: skip
